"""S3Store passes the store contract against a real SeaweedFS server."""

from __future__ import annotations

import pytest

from .contract import StoreContract

pytestmark = pytest.mark.slow


class TestS3Store(StoreContract):
    # Each process pays ~0.5 s importing boto3 on two shared cores; the 8-saver race is
    # covered by the thread test (8 savers, concurrent conditional PUTs).
    process_savers = 4

    @pytest.fixture
    def store_url(self, s3_url: str) -> str:
        return s3_url

"""S3Store passes the store contract against a real SeaweedFS server."""

from __future__ import annotations

import pytest

from .contract import StoreContract

pytestmark = pytest.mark.slow


class TestS3Store(StoreContract):
    @pytest.fixture
    def store_url(self, s3_url: str) -> str:
        return s3_url

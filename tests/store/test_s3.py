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


def test_prune_aborts_multipart_uploads_of_dead_savers(s3_url: str) -> None:
    from datetime import timedelta

    from buildonce.store import cache, open_store
    from buildonce.store.s3 import S3Store

    store = open_store(s3_url)
    assert isinstance(store, S3Store)
    key = store._key("blobs/" + "0" * 64 + "-1-dead")
    upload = store.client.create_multipart_upload(Bucket=store.bucket, Key=key)
    store.client.upload_part(
        Bucket=store.bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 1024
    )
    # Young uploads may belong to a live saver: left alone.
    assert cache.prune(store).orphans_removed == 0
    later = cache.now_utc() + timedelta(hours=2)
    assert cache.prune(store, clock=lambda: later).orphans_removed == 1
    listed = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=key)
    assert not listed.get("Uploads")


def test_read_ahead_digest_covers_the_whole_body_or_refuses(s3_url: str) -> None:
    """The restore takes the body's sha256 from the read-ahead thread; never a partial one."""
    import hashlib
    import os

    from buildonce.store import open_store
    from buildonce.store.s3 import S3Store

    store = open_store(s3_url)
    assert isinstance(store, S3Store)
    data = os.urandom(3 * (1 << 20) + 17)
    store._put("blobs/probe", data)
    with store.open_blob("blobs/probe") as body:
        assert body.read(1000) == data[:1000]
        with pytest.raises(RuntimeError, match="end"):
            body.delivered_sha256()
        rest = body.read()
        assert body.read(10) == b""
        assert body.delivered_sha256() == hashlib.sha256(data).hexdigest()
    assert data[1000:] == rest

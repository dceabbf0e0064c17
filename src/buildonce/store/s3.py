"""S3Store: any S3-compatible object store (AWS S3, MinIO, SeaweedFS, R2...) for fleets.

URL: ``s3://bucket[/prefix][?endpoint=URL&region=R&addressing=path|virtual]``.  The endpoint,
region and credentials otherwise come from the usual AWS environment: ``AWS_ENDPOINT_URL_S3``
or ``AWS_ENDPOINT_URL``, ``AWS_REGION``/``AWS_DEFAULT_REGION`` (default ``us-east-1``),
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` or any source boto3's credential chain knows.
With a custom endpoint, path-style addressing is the default (MinIO and SeaweedFS need it).

First writer wins through a small single-PUT ``If-None-Match: *`` commit object: SeaweedFS
(and S3) apply that atomically to single-part PUTs only, while racing *multipart*
completions with the same condition can both succeed (engines.md §2).  The archive itself
goes multipart under a unique name first, so no condition is needed there.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from buildonce.errors import ConfigError, StoreError
from buildonce.store.base import ObjectStore, Progress

#: 64 MiB parts, 4 at a time: the fastest multipart setting measured (engines.md §2).
TRANSFER = TransferConfig(
    multipart_threshold=64 * 1024 * 1024,
    multipart_chunksize=64 * 1024 * 1024,
    max_concurrency=4,
)
CHUNK = 1 << 20


class S3Store(ObjectStore):
    compression = "zstd"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint: str | None = None,
        region: str = "us-east-1",
        addressing: str | None = None,
        client: Any = None,
    ) -> None:
        if len(bucket) < 3:
            raise ConfigError(
                "S3 bucket names have at least 3 characters",
                where=f"s3://{bucket}",
                hint="write s3://BUCKET/PREFIX",
            )
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint = endpoint
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        if client is None:
            client = _shared_client(
                endpoint, region, addressing or ("path" if endpoint else "auto")
            )
        self.client = client

    @classmethod
    def from_url(cls, url: str, env: Mapping[str, str]) -> S3Store:
        parts = urlsplit(url)
        if not parts.netloc:
            raise ConfigError(
                "the S3 URL names no bucket", where=url, hint="write s3://BUCKET/PREFIX"
            )
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = sorted(set(query) - {"endpoint", "region", "addressing"})
        if unknown:
            raise ConfigError(
                f"unknown S3 URL option {unknown[0]!r}",
                where=url,
                hint="options are endpoint=, region= and addressing=path|virtual",
            )
        endpoint = (
            query.get("endpoint") or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
        )
        if endpoint and urlsplit(endpoint).scheme not in ("http", "https"):
            raise ConfigError(
                "the S3 endpoint must be an http:// or https:// URL",
                where=endpoint,
                hint="set AWS_ENDPOINT_URL_S3=http://host:port",
            )
        addressing = query.get("addressing") or env.get("BUILDONCE_S3_ADDRESSING")
        if addressing not in (None, "path", "virtual", "auto"):
            raise ConfigError(
                f"unknown addressing style {addressing!r}", where=url, hint="use path or virtual"
            )
        region = (
            query.get("region")
            or env.get("AWS_REGION")
            or env.get("AWS_DEFAULT_REGION")
            or "us-east-1"
        )
        return cls(
            parts.netloc, parts.path, endpoint=endpoint, region=region, addressing=addressing
        )

    # -- helpers ---------------------------------------------------------------------------
    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _error(self, exc: Exception, name: str) -> StoreError:
        where = f"{self.url}/{name}" if name else self.url
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "?")
            message = exc.response.get("Error", {}).get("Message", "") or code
            if code == "NoSuchBucket":
                return StoreError(
                    f"bucket {self.bucket!r} does not exist",
                    where=self.url,
                    hint="create it (aws s3 mb) or fix the URL",
                )
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
                return StoreError(
                    f"S3 refused the credentials ({code})",
                    where=where,
                    hint="check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                )
            return StoreError(f"S3 error {code}: {message}", where=where)
        if isinstance(exc, StoreError):
            return exc
        if type(exc).__name__ in ("NoCredentialsError", "PartialCredentialsError"):
            return StoreError(
                "no S3 credentials found",
                where=self.url,
                hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
            )
        endpoint = self.endpoint or "the default AWS endpoint"
        return StoreError(
            f"cannot reach S3 at {endpoint} ({type(exc).__name__}: {exc})",
            where=where,
            hint="check AWS_ENDPOINT_URL_S3 and that the server is running",
        )

    # -- primitives ------------------------------------------------------------------------
    def _put_file(self, name: str, path: Path, progress: Progress) -> None:
        try:
            self.client.upload_file(
                str(path), self.bucket, self._key(name), Config=TRANSFER, Callback=progress
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, name) from exc
        except Exception as exc:  # s3transfer wraps failures in its own exception types
            raise self._error(exc, name) from exc

    def _put_if_absent(self, name: str, data: bytes) -> bool:
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(name), Body=data, IfNoneMatch="*"
            )
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = exc.response.get("Error", {}).get("Code")
            # 412: it exists.  409: another conditional write to it is in flight (AWS).
            if status in (409, 412) or code in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise self._error(exc, name) from exc
        except BotoCoreError as exc:
            raise self._error(exc, name) from exc
        return True

    def _put(self, name: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, name) from exc

    def _get(self, name: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(name))
            data: bytes = response["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise self._error(exc, name) from exc
        except BotoCoreError as exc:
            raise self._error(exc, name) from exc
        return data

    def _get_file(self, name: str, sink: BinaryIO, progress: Progress) -> None:
        try:
            self.client.download_fileobj(
                self.bucket, self._key(name), sink, Config=TRANSFER, Callback=progress
            )
        except Exception as exc:
            raise self._error(exc, name) from exc

    def open_blob(self, name: str) -> _Body:
        """Stream the archive: restore hashes and extracts while the bytes arrive."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(name))
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, name) from exc
        return _Body(response["Body"], self, name)

    def _list(self, prefix: str) -> Iterator[str]:
        full = self._key(prefix)
        strip = len(self._key(""))
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                for item in page.get("Contents", []):
                    yield item["Key"][strip:]
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, prefix) from exc

    def _delete(self, name: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(name))
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, name) from exc

    def clean_temp(self, older_than_s: float, now: float | None = None) -> int:
        """Abort multipart uploads of savers that died mid-upload (they cost storage on AWS)."""
        cutoff = (time.time() if now is None else now) - older_than_s
        aborted = 0
        try:
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key("blobs/")):
                for upload in page.get("Uploads", []):
                    if upload["Initiated"].timestamp() < cutoff:
                        self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        aborted += 1
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, "blobs/") from exc
        return aborted

    def close(self) -> None:
        # Clients are shared (creating one costs ~0.5 s of botocore data loading).
        return None


_CLIENTS: dict[tuple[str | None, ...], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _shared_client(endpoint: str | None, region: str, style: str) -> Any:
    """One boto3 client per configuration and credentials; boto3 clients are thread-safe."""
    identity = tuple(
        os.environ.get(n)
        for n in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")
    )
    cache_key = (endpoint, region, style, *identity)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(cache_key)
        if client is None:
            config = Config(
                s3={"addressing_style": style},  # type: ignore[arg-type]
                retries={"mode": "standard", "max_attempts": 3},
                connect_timeout=5,
                read_timeout=60,
                max_pool_connections=16,
            )
            client = boto3.session.Session().client(
                "s3", endpoint_url=endpoint, region_name=region, config=config
            )
            _CLIENTS[cache_key] = client
        return client


class _Body:
    """A streaming GET body read ahead by a thread; network failures become StoreError.

    The thread overlaps the socket reads with hashing, decompression and writing in the
    consumer (all of which release the GIL).  A failure is a miss, not corruption.
    """

    def __init__(self, body: Any, store: S3Store, name: str, depth: int = 8) -> None:
        self.body = body
        self.store = store
        self.name = name
        self.queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=depth)
        self.buffer = b""
        self.done = False
        self.stopping = threading.Event()
        # The read-ahead thread hashes what it fetches, so the consumer's thread only
        # decompresses and writes (archive.HashingReader asks delivered_sha256()).
        self._digest = hashlib.sha256()
        self._delivered = 0
        self._received = 0
        self.thread = threading.Thread(target=self._fill, name="buildonce-s3-read", daemon=True)
        self.thread.start()

    def delivered_sha256(self) -> str:
        """sha256 of the body, valid once :meth:`read` has returned its end (``b""``).

        Raises if called earlier: a digest of part of the body must never pass for the whole.
        """
        if not self.done or self.buffer or self._delivered != self._received:
            raise RuntimeError("the body has not been read to its end")
        return self._digest.hexdigest()

    def _fill(self) -> None:
        try:
            while not self.stopping.is_set():
                chunk: bytes = self.body.read(CHUNK)
                # Hashed before it is queued: when the consumer sees the end, every chunk
                # it was given is in the digest.
                self._digest.update(chunk)
                self._received += len(chunk)
                self._put(chunk)
                if not chunk:
                    return
        except BaseException as exc:
            self._put(exc)

    def _put(self, item: bytes | BaseException) -> None:
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read(self, n: int = -1) -> bytes:
        want = n if n >= 0 else 1 << 62
        parts = [self.buffer] if self.buffer else []
        have = len(self.buffer)
        while have < want and not self.done:
            item = self.queue.get()
            if isinstance(item, BaseException):
                self.done = True
                if isinstance(item, Exception):
                    raise self.store._error(item, self.name) from item
                raise item
            if not item:
                self.done = True
            parts.append(item)
            have += len(item)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if len(data) > want:
            data, self.buffer = data[:want], data[want:]
        else:
            self.buffer = b""
        self._delivered += len(data)
        return data

    def __enter__(self) -> _Body:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stopping.set()
        # Closing the socket wakes a reader blocked in recv; it then sees `stopping`.
        with contextlib.suppress(Exception):
            self.body.close()
        self.thread.join(timeout=30)

"""Client for GitHub's Actions cache service, version 2 (the one actions/cache v4+ talks to).

The service has two halves (``cache-semantics.md`` §4, §9):

* **Twirp JSON RPCs** under ``<ACTIONS_RESULTS_URL>/twirp/<SERVICE>/``:
  ``GetCacheEntryDownloadURL`` (key, restore keys, version -> a signed URL and the matched
  key), ``CreateCacheEntry`` (reserve key+version in the run's scope -> a signed upload URL)
  and ``FinalizeCacheEntryUpload`` (publish it with its size).  Lookup, prefix matching,
  scopes and immutability all live on the server; the client cannot list entries.
* **Azure block-blob REST** on the signed URLs: ``Put Block`` + ``Put Block List`` to upload
  in parallel chunks, ranged ``Get Blob`` to download in parallel chunks.

Retries follow the toolkit (500/502/503/504 and dropped connections, 5 attempts, 3 s base,
x1.5 backoff with jitter) with one deliberate difference: a 429 is retried after the
``Retry-After`` the service asks for, but only when that wait stays within
:attr:`RetryPolicy.max_retry_after`; a longer wait fails fast instead of stalling the job.

Nothing here prints: progress and warnings go through callbacks the caller supplies.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hashlib
import http.client
import json
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote, urljoin, urlsplit
from xml.sax.saxutils import escape

from buildonce.errors import ConfigError, StoreError
from buildonce.keys.cache_key import validate_key

SERVICE = "github.actions.results.api.v1.CacheService"

#: ``getCompressionMethod`` in the toolkit picks this whenever the zstd CLI exists, which
#: is every hosted runner; buildonce always writes zstd without ``--long``.
COMPRESSION_ZSTD = "zstd-without-long"
COMPRESSION_ZSTD_LONG = "zstd"
COMPRESSION_GZIP = "gzip"
#: Salt appended to every version by the toolkit (``versionSalt``).
VERSION_SALT = "1.0"

#: actions/cache sends at most this many keys (primary + restore keys); toolkit ``cache.ts`` §2.
MAX_KEYS = 10

#: Azure REST API version sent with blob requests (any version supporting block blobs works).
AZURE_API_VERSION = "2023-11-03"

_RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
_TOKEN_HINT = (
    "the runner exports ACTIONS_RUNTIME_TOKEN and ACTIONS_RESULTS_URL only to JavaScript and "
    "container actions; run the buildonce action (or its action/runtime step) before "
    "calling buildonce in a `run:` step, or choose another store with --store"
)


class EntryExistsError(StoreError):
    """The service already holds (or is still receiving) an entry with this key and version.

    Entries are immutable (§4): another job won the reservation.  Callers treat it as
    "someone else saved it", not as a failure of the build.
    """


class ServiceUnavailableError(StoreError):
    """The cache service or blob storage kept failing after the retry budget was spent."""


class SignedUrlError(StoreError):
    """The signed blob URL was refused (expired or tampered SAS); a fresh one may work."""


def validate_cache_key(key: str, *, where: str = "key") -> str:
    """Apply actions/cache's client-side key rules so a bad key fails before any upload."""
    return validate_key(key, where=where, fix=f"the {where}")


def cache_version(
    paths: Sequence[str],
    compression: str | None = COMPRESSION_ZSTD,
    *,
    windows: bool = False,
    cross_os: bool = False,
) -> str:
    """The toolkit's ``getCacheVersion``: sha256 of ``path|...|compression|[windows-only]|1.0``.

    ``paths`` are used exactly as written (not expanded, not sorted): this is why a save and
    a restore with differently spelled paths never meet (§3).
    """
    components = list(paths)
    if compression:
        components.append(compression)
    if windows and not cross_os:
        components.append("windows-only")
    components.append(VERSION_SALT)
    return hashlib.sha256("|".join(components).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class GhaConfig:
    """Where the cache service is and how to authenticate, read from the runner's env."""

    results_url: str
    token: str = field(repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.results_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"ACTIONS_RESULTS_URL {self.results_url!r} is not an http(s) URL",
                where="ACTIONS_RESULTS_URL",
                hint=_TOKEN_HINT,
            )
        if not self.token.strip():
            raise ConfigError(
                "ACTIONS_RUNTIME_TOKEN is empty", where="ACTIONS_RUNTIME_TOKEN", hint=_TOKEN_HINT
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GhaConfig:
        """Build the config, or say precisely which variable is missing and how to get it."""
        url = env.get("ACTIONS_RESULTS_URL", "").strip()
        token = env.get("ACTIONS_RUNTIME_TOKEN", "").strip()
        if not url and env.get("ACTIONS_CACHE_URL"):
            raise ConfigError(
                "this runner only offers the legacy v1 cache service (ACTIONS_CACHE_URL), "
                "which buildonce does not speak",
                where="ACTIONS_RESULTS_URL",
                hint="use an S3-compatible store (--store s3://bucket/prefix) on this server",
            )
        missing = [
            name
            for name, value in (("ACTIONS_RESULTS_URL", url), ("ACTIONS_RUNTIME_TOKEN", token))
            if not value
        ]
        if missing:
            raise ConfigError(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set, "
                "so the GitHub Actions cache cannot be reached",
                where="gha store",
                hint=_TOKEN_HINT,
            )
        return cls(results_url=url, token=token)

    @staticmethod
    def present(env: Mapping[str, str]) -> bool:
        """Whether the runner exported both variables (auto-selects the gha store)."""
        return bool(env.get("ACTIONS_RESULTS_URL")) and bool(env.get("ACTIONS_RUNTIME_TOKEN"))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try before declaring the service down (a miss, not a failed build)."""

    max_attempts: int = 5
    base_delay: float = 3.0
    multiplier: float = 1.5
    #: The longest ``Retry-After`` we agree to wait; a longer one fails at once.
    max_retry_after: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt + 1`` (toolkit schedule, with jitter)."""
        if attempt == 0:
            return self.base_delay
        low = self.base_delay * self.multiplier**attempt
        return random.uniform(low, low * self.multiplier)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None


def _no_delay(sock: Any) -> None:
    # Requests go out as headers then body: with Nagle on, the tail of each one can wait
    # for the server's delayed ACK (~40 ms per Twirp call or block).  urllib3 sets this too.
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _HTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _no_delay(self.sock)


class _HTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _no_delay(self.sock)


class _Connections:
    """One persistent HTTP connection per thread and origin (keep-alive matters for blocks)."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def get(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        pool: dict[tuple[str, str], http.client.HTTPConnection] | None = getattr(
            self._local, "pool", None
        )
        if pool is None:
            pool = {}
            self._local.pool = pool
        conn = pool.get((scheme, netloc))
        if conn is None:
            cls = _HTTPSConnection if scheme == "https" else _HTTPConnection
            conn = cls(netloc, timeout=self._timeout)
            pool[(scheme, netloc)] = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def drop(self, scheme: str, netloc: str) -> None:
        pool = getattr(self._local, "pool", None)
        if pool is not None:
            conn = pool.pop((scheme, netloc), None)
            if conn is not None:
                conn.close()

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()


class HttpTransport:
    """Minimal HTTP/1.1 client on :mod:`http.client` with per-thread keep-alive.

    We avoid urllib (no keep-alive, so one TCP handshake per block) and third-party
    clients (a dependency for three verbs).
    """

    def __init__(self, *, timeout: float = 120.0) -> None:
        self._conns = _Connections(timeout)

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | memoryview | None = None,
        headers: Mapping[str, str] | None = None,
        into: Callable[[bytes], None] | None = None,
    ) -> Response:
        """Send one request.  ``into`` streams a successful body instead of buffering it."""
        parts = urlsplit(url)
        target = parts.path or "/"
        if parts.query:
            target = f"{target}?{parts.query}"
        conn = self._conns.get(parts.scheme, parts.netloc)
        try:
            reused = conn.sock is not None
            try:
                conn.request(method, target, body=body, headers=dict(headers or {}))
                resp = conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if not reused:
                    raise
                # The server closed an idle keep-alive connection: that is not a failed
                # attempt, so reconnect at once instead of spending a retry and a backoff.
                self._conns.drop(parts.scheme, parts.netloc)
                conn = self._conns.get(parts.scheme, parts.netloc)
                conn.request(method, target, body=body, headers=dict(headers or {}))
                resp = conn.getresponse()
            hdrs = {k: v for k, v in resp.getheaders()}
            if into is not None and 200 <= resp.status < 300:
                while chunk := resp.read(1 << 20):
                    into(chunk)
                data = b""
            else:
                data = resp.read()
            if resp.will_close:
                self._conns.drop(parts.scheme, parts.netloc)
            return Response(resp.status, resp.reason, hdrs, data)
        except (OSError, http.client.HTTPException):
            self._conns.drop(parts.scheme, parts.netloc)
            raise

    def close(self) -> None:
        self._conns.close()


def _redact(url: str) -> str:
    """Signed URLs are credentials: never put the query string in a message."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def send_with_retry(
    transport: HttpTransport,
    method: str,
    url: str,
    *,
    what: str,
    retry: RetryPolicy,
    body: bytes | memoryview | None = None,
    headers: Mapping[str, str] | None = None,
    into: Callable[[bytes], None] | None = None,
    on_retry: Callable[[str], None] | None = None,
    before_attempt: Callable[[], None] | None = None,
) -> Response:
    """Send a request, retrying transient failures; return the first non-retryable response."""
    last = ""
    for attempt in range(retry.max_attempts):
        if before_attempt is not None:
            before_attempt()
        delay: float | None
        try:
            resp = transport.request(method, url, body=body, headers=headers, into=into)
        except (OSError, http.client.HTTPException) as exc:
            last = f"{type(exc).__name__}: {exc}"
            delay = retry.backoff(attempt)
        else:
            if resp.status == 429:
                asked = parse_retry_after(resp.header("Retry-After"))
                last = "429 Too Many Requests (rate limited)"
                if asked is not None and asked > retry.max_retry_after:
                    raise ServiceUnavailableError(
                        f"{what}: rate limited and asked to wait {asked:.0f} s, more than the "
                        f"{retry.max_retry_after:.0f} s buildonce is willing to wait",
                        where=_redact(url),
                        hint="the repository hit the Actions cache rate limit; retry later",
                    )
                delay = asked if asked is not None else retry.backoff(attempt)
            elif resp.status in _RETRYABLE_STATUS:
                last = f"{resp.status} {resp.reason}"
                delay = retry.backoff(attempt)
            else:
                return resp
        if attempt + 1 < retry.max_attempts:
            if on_retry is not None:
                on_retry(
                    f"{what}: attempt {attempt + 1} of {retry.max_attempts} failed ({last}); "
                    f"retrying in {delay:.1f} s"
                )
            retry.sleep(delay)
    raise ServiceUnavailableError(
        f"{what} failed after {retry.max_attempts} attempts: {last}",
        where=_redact(url),
        hint="the GitHub Actions cache service looks unavailable; the job continues uncached",
    )


@dataclass(frozen=True, slots=True)
class DownloadLocation:
    """Where a matched entry's bytes are: the signed URL and the key that actually matched."""

    matched_key: str
    url: str = field(repr=False)


class CacheServiceClient:
    """The three Twirp RPCs of the v2 cache service."""

    def __init__(
        self,
        config: GhaConfig,
        *,
        retry: RetryPolicy | None = None,
        transport: HttpTransport | None = None,
        on_retry: Callable[[str], None] | None = None,
        user_agent: str = "buildonce",
    ) -> None:
        self.config = config
        self.retry = retry or RetryPolicy()
        self._transport = transport or HttpTransport(timeout=60.0)
        self._owns_transport = transport is None
        self._on_retry = on_retry
        self._user_agent = user_agent

    def close(self) -> None:
        if self._owns_transport:
            self._transport.close()

    def __enter__(self) -> CacheServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _url(self, method: str) -> str:
        # Same resolution as the toolkit: an absolute path against the results URL's origin.
        return urljoin(self.config.results_url, f"/twirp/{SERVICE}/{method}")

    def call(self, method: str, payload: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST one Twirp JSON request; return (HTTP status, decoded body) of the final reply."""
        url = self._url(method)
        resp = send_with_retry(
            self._transport,
            "POST",
            url,
            what=method,
            retry=self.retry,
            body=json.dumps(payload).encode("utf-8"),
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Authorization": f"Bearer {self.config.token}",
                "User-Agent": self._user_agent,
            },
            on_retry=self._on_retry,
        )
        try:
            decoded = json.loads(resp.body.decode("utf-8")) if resp.body else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            decoded = {}
        if not isinstance(decoded, dict):
            decoded = {}
        if resp.status == 401:
            raise ConfigError(
                f"{method}: the cache service refused the runtime token "
                f"({resp.status} {decoded.get('msg') or resp.reason})",
                where="ACTIONS_RUNTIME_TOKEN",
                hint="the token expires with the job; pass the current job's token "
                "(the buildonce action exports it)",
            )
        if resp.status == 403:
            raise StoreError(
                f"{method}: the cache service forbids this ({decoded.get('msg') or resp.reason})",
                where="Actions cache service",
                hint="the job's cache token is read-only (untrusted trigger or "
                "`cache-mode: read`); save from a trusted push job instead",
            )
        return resp.status, decoded

    @staticmethod
    def _error(method: str, status: int, body: Mapping[str, Any]) -> StoreError:
        msg = body.get("msg") or body.get("message") or ""
        return StoreError(
            f"{method} failed: {status} {body.get('code', '')} {msg}".strip(),
            where="Actions cache service",
        )

    def get_download_url(
        self, key: str, restore_keys: Sequence[str], version: str
    ) -> DownloadLocation | None:
        """Look the key up (exact, then prefix; then each restore key) or return None."""
        status, body = self.call(
            "GetCacheEntryDownloadURL",
            {"key": key, "restore_keys": list(restore_keys), "version": version},
        )
        if status == 404:
            return None
        if status >= 300:
            raise self._error("GetCacheEntryDownloadURL", status, body)
        if not body.get("ok") or not body.get("signed_download_url"):
            return None
        return DownloadLocation(
            matched_key=str(body.get("matched_key") or key), url=str(body["signed_download_url"])
        )

    def create_entry(self, key: str, version: str) -> str:
        """Reserve key+version in the run's scope; return the signed upload URL."""
        status, body = self.call("CreateCacheEntry", {"key": key, "version": version})
        if status == 409:
            raise EntryExistsError(
                f"an entry with key {key!r} and this version already exists in this scope "
                "(or another job is uploading it)",
                where="CreateCacheEntry",
                hint="entries are immutable; change the key to save new content",
            )
        if status >= 300:
            raise self._error("CreateCacheEntry", status, body)
        if not body.get("ok") or not body.get("signed_upload_url"):
            message = str(body.get("message") or "the service declined the reservation")
            raise EntryExistsError(
                f"cache reservation failed for key {key!r}: {message}", where="CreateCacheEntry"
            )
        return str(body["signed_upload_url"])

    def finalize_entry(self, key: str, version: str, size: int) -> str:
        """Publish the uploaded blob; return the service's entry id."""
        status, body = self.call(
            "FinalizeCacheEntryUpload",
            # int64 travels as a JSON string in proto3's canonical JSON mapping.
            {"key": key, "version": version, "size_bytes": str(size)},
        )
        if status >= 300:
            raise self._error("FinalizeCacheEntryUpload", status, body)
        if not body.get("ok"):
            raise StoreError(
                f"FinalizeCacheEntryUpload for key {key!r} was not accepted: "
                f"{body.get('message') or 'no reason given'}",
                where="Actions cache service",
            )
        return str(body.get("entry_id", ""))


def _with_query(url: str, extra: str) -> str:
    return f"{url}{'&' if urlsplit(url).query else '?'}{extra}"


class BlobClient:
    """Azure block-blob operations on one signed URL, with parallel chunks."""

    #: Fixed-width ids: Azure requires every block id of a blob to have the same length.
    BLOCK_ID_WIDTH: ClassVar[int] = 10

    def __init__(
        self,
        url: str,
        *,
        transport: HttpTransport,
        retry: RetryPolicy,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self._transport = transport
        self._retry = retry
        self._on_retry = on_retry

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"x-ms-version": AZURE_API_VERSION}
        if extra:
            headers.update(extra)
        return headers

    def _check(self, resp: Response, what: str, ok: tuple[int, ...]) -> Response:
        if resp.status in ok:
            return resp
        text = resp.body[:300].decode("utf-8", "replace")
        if resp.status == 403:
            raise SignedUrlError(
                f"{what}: blob storage refused the signed URL (403: "
                f"{'expired' if 'expired' in text.lower() else 'authentication failed'})",
                where=_redact(self.url),
                hint="signed URLs expire; buildonce fetches a fresh one on restore",
            )
        raise StoreError(f"{what}: blob storage answered {resp.status} {resp.reason}: {text}")

    @classmethod
    def block_id(cls, index: int) -> str:
        return base64.b64encode(f"{index:0{cls.BLOCK_ID_WIDTH}d}".encode()).decode()

    def put_block(self, index: int, data: bytes | memoryview) -> str:
        block_id = self.block_id(index)
        url = _with_query(self.url, f"comp=block&blockid={quote(block_id, safe='')}")
        resp = send_with_retry(
            self._transport,
            "PUT",
            url,
            what=f"upload block {index}",
            retry=self._retry,
            body=data,
            headers=self._headers({"Content-Length": str(len(data))}),
            on_retry=self._on_retry,
        )
        self._check(resp, f"upload block {index}", (201,))
        return block_id

    def put_block_list(self, block_ids: Sequence[str]) -> None:
        body = (
            '<?xml version="1.0" encoding="utf-8"?><BlockList>'
            + "".join(f"<Latest>{escape(b)}</Latest>" for b in block_ids)
            + "</BlockList>"
        ).encode()
        resp = send_with_retry(
            self._transport,
            "PUT",
            _with_query(self.url, "comp=blocklist"),
            what="commit block list",
            retry=self._retry,
            body=body,
            headers=self._headers({"Content-Type": "application/xml"}),
            on_retry=self._on_retry,
        )
        self._check(resp, "commit block list", (201,))

    def get_range(self, start: int, end: int) -> tuple[bytes, int]:
        """Bytes ``start..end`` inclusive and the blob's total size (from Content-Range)."""
        chunks: list[bytes] = []
        resp = send_with_retry(
            self._transport,
            "GET",
            self.url,
            what=f"download bytes {start}-{end}",
            retry=self._retry,
            headers=self._headers({"x-ms-range": f"bytes={start}-{end}"}),
            into=chunks.append,
            before_attempt=chunks.clear,
            on_retry=self._on_retry,
        )
        if resp.status == 416:
            return b"", 0
        self._check(resp, f"download bytes {start}-{end}", (200, 206))
        data = b"".join(chunks)
        total = len(data)
        content_range = resp.header("Content-Range")
        if resp.status == 206 and content_range and "/" in content_range:
            total_text = content_range.rsplit("/", 1)[1]
            if total_text.isdigit():
                total = int(total_text)
        expected = min(end, total - 1) - start + 1 if resp.status == 206 else total
        if len(data) != expected:
            raise StoreError(
                f"download bytes {start}-{end}: got {len(data)} bytes, expected {expected}",
                where=_redact(self.url),
                hint="the connection was cut; retry the restore",
            )
        return data, total

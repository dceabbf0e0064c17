"""A small GitHub REST client: pagination, conditional requests, rate limits, retries.

Standard library only (:mod:`http.client` with one keep-alive connection per host), because
ingesting ten thousand runs is ten thousand sequential requests and a connection per request
would dominate the time.  Requests are deliberately sequential: GitHub's secondary rate
limits punish concurrency.

The token is sent in the ``Authorization`` header and nowhere else: it is not part of
``repr``, URLs, error messages or the ETag table (which keys on a one-way fingerprint).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from buildonce import __version__
from buildonce.errors import BuildonceError, ConfigError, InputError, NetworkError

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
#: Longest single back-off; a primary-limit reset further away than the budget fails instead.
MAX_SINGLE_WAIT_S = 3600.0
MAX_REDIRECTS = 5
_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?([^";]+)"?')


@dataclass(frozen=True, slots=True)
class Response:
    """One answer.  ``data`` is ``None`` for 304 and empty bodies."""

    status: int
    headers: Mapping[str, str]
    data: Any
    url: str

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @property
    def next_url(self) -> str | None:
        return parse_link_header(self.headers.get("link", "")).get("next")


def parse_link_header(value: str) -> dict[str, str]:
    """``rel -> url`` from an RFC 8288 ``Link`` header (GitHub's pagination)."""
    return {rel: url for url, rel in _LINK.findall(value or "")}


def token_fingerprint(token: str | None) -> str:
    """A short one-way digest: ETags are per credential, the token itself is never stored."""
    if not token:
        return "anonymous"
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass
class RetryPolicy:
    """How long the client may wait in total and how often it retries a failed request."""

    max_total_wait_s: float = 900.0
    max_retries: int = 5
    base_backoff_s: float = 1.0
    secondary_default_s: float = 60.0


@dataclass
class ClientStats:
    requests: int = 0
    not_modified: int = 0
    retries: int = 0
    waited_s: float = 0.0
    rate_limit_remaining: int | None = None


@dataclass
class GitHubClient:
    """Sequential REST client for ``api_url`` (github.com or GHES ``https://HOST/api/v3``).

    ``sleep`` and ``clock`` are injectable so tests can exercise back-off without waiting.
    """

    api_url: str = DEFAULT_API_URL
    token: str | None = field(default=None, repr=False)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    timeout_s: float = 30.0
    stats: ClientStats = field(default_factory=ClientStats)
    _connections: dict[tuple[str, str], http.client.HTTPConnection] = field(
        default_factory=dict, repr=False
    )
    _waited: float = field(default=0.0, repr=False)
    _blocked_until: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"{self.api_url!r} is not an http(s) URL",
                where="GITHUB_API_URL",
                hint="use https://api.github.com or https://HOST/api/v3 for GitHub Enterprise",
            )
        self.api_url = self.api_url.rstrip("/")

    @classmethod
    def from_env(cls, env: Mapping[str, str], **kwargs: Any) -> GitHubClient:
        """``GITHUB_API_URL`` (default github.com) and ``GITHUB_TOKEN`` (optional)."""
        return cls(
            api_url=env.get("GITHUB_API_URL") or DEFAULT_API_URL,
            token=env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or None,
            **kwargs,
        )

    @property
    def credential(self) -> str:
        return token_fingerprint(self.token)

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- URLs -------------------------------------------------------------------------
    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """Absolute URL for an API path; ``Link`` URLs pass through unchanged."""
        if path.startswith(("http://", "https://")):
            full = path
        else:
            full = self.api_url + "/" + path.lstrip("/")
        if params:
            clean = {k: v for k, v in params.items() if v is not None}
            if clean:
                full += ("&" if "?" in full else "?") + urlencode(clean)
        return full

    # -- requests ---------------------------------------------------------------------
    def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        allow_status: tuple[int, ...] = (),
    ) -> Response:
        """GET with conditional headers, back-off and retries.

        Returns 2xx, 304 and any status in ``allow_status``; raises
        :class:`~buildonce.errors.NetworkError` for the rest.
        """
        url = self.url(path, params)
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": f"buildonce/{__version__}",
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        attempt = 0
        secondary_hits = 0
        redirects = 0
        while True:
            self._wait_for_primary_reset(url)
            try:
                status, resp_headers, body = self._send(url, headers)
            except (OSError, http.client.HTTPException) as exc:
                attempt += 1
                reason = " ".join(str(exc).split()) or type(exc).__name__
                self._retry_or_raise(url, attempt, f"connection failed: {reason}")
                continue
            self.stats.requests += 1
            remaining = _int_header(resp_headers, "x-ratelimit-remaining")
            if remaining is not None:
                self.stats.rate_limit_remaining = remaining
            if status in (403, 429):
                wait = self._rate_limit_wait(resp_headers, body, secondary_hits)
                if wait is not None:
                    secondary_hits += 1
                    self._backoff(url, wait, "rate limited")
                    continue
            if status >= 500:
                attempt += 1
                self._retry_or_raise(url, attempt, f"server error HTTP {status}")
                continue
            if remaining == 0:
                # The last request of the window succeeded: pause before the next one.
                reset = _int_header(resp_headers, "x-ratelimit-reset")
                if reset is not None:
                    self._blocked_until = float(reset) + 1.0
            if status in (301, 302, 307, 308) and resp_headers.get("location"):
                # A renamed or transferred repository answers with a permanent redirect.
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise NetworkError("too many redirects", where=_redact(url))
                target = urljoin(url, resp_headers["location"])
                if urlsplit(target).netloc != urlsplit(url).netloc:
                    headers.pop("Authorization", None)  # never hand the token to another host
                url = target
                continue
            if status == 304:
                self.stats.not_modified += 1
                return Response(304, resp_headers, None, url)
            if 200 <= status < 300 or status in allow_status:
                return Response(status, resp_headers, _decode(body, url), url)
            raise self._http_error(url, status, body)

    def paginate(
        self, path: str, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Iterator[Response]:
        """Every page, following ``Link: rel="next"`` (never building page URLs)."""
        url: str | None = self.url(path, params)
        seen: set[str] = set()
        while url is not None:
            if url in seen:  # a server that links a page to itself must not loop forever
                return
            seen.add(url)
            page = self.get(url, **kwargs)
            yield page
            url = page.next_url

    # -- internals --------------------------------------------------------------------
    def _send(self, url: str, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        conn = self._connections.get(key)
        if conn is None:
            if parts.scheme == "https":
                conn = http.client.HTTPSConnection(
                    parts.netloc, timeout=self.timeout_s, context=ssl.create_default_context()
                )
            else:
                conn = http.client.HTTPConnection(parts.netloc, timeout=self.timeout_s)
            self._connections[key] = conn
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request("GET", target or "/", headers=dict(headers))
            resp = conn.getresponse()
            body = resp.read()
        except (TimeoutError, OSError, http.client.HTTPException):
            conn.close()
            self._connections.pop(key, None)
            raise
        if resp.getheader("connection", "").lower() == "close":
            conn.close()
            self._connections.pop(key, None)
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body

    def _rate_limit_wait(
        self, headers: Mapping[str, str], body: bytes, secondary_hits: int
    ) -> float | None:
        """Seconds to wait before retrying a 403/429, or ``None`` when it is not a limit."""
        retry_after = _int_header(headers, "retry-after")
        if retry_after is not None:
            return float(max(retry_after, 0))
        if _int_header(headers, "x-ratelimit-remaining") == 0:
            reset = _int_header(headers, "x-ratelimit-reset")
            if reset is not None:
                return max(float(reset) - self.clock(), 0.0) + 1.0
            return self.policy.secondary_default_s
        message = _message(body).lower()
        if "rate limit" in message or "abuse" in message:
            # Secondary limit without retry-after: at least a minute, then exponential.
            return float(self.policy.secondary_default_s * (2**secondary_hits))
        return None

    def _wait_for_primary_reset(self, url: str) -> None:
        if self._blocked_until <= 0:
            return
        wait = self._blocked_until - self.clock()
        self._blocked_until = 0.0
        if wait > 0:
            self._backoff(url, wait, "primary rate limit exhausted")

    def _backoff(self, url: str, wait: float, why: str) -> None:
        wait = min(wait, MAX_SINGLE_WAIT_S)
        if self._waited + wait > self.policy.max_total_wait_s:
            raise NetworkError(
                f"{why}; waiting {wait:.0f}s more would exceed the "
                f"{self.policy.max_total_wait_s:.0f}s budget",
                where=_redact(url),
                hint="rerun later: ingest resumes where it stopped; a personal access token "
                "or GitHub App has a higher limit than GITHUB_TOKEN",
            )
        self._waited += wait
        self.stats.waited_s += wait
        self.stats.retries += 1
        self.sleep(wait)

    def _retry_or_raise(self, url: str, attempt: int, why: str) -> None:
        if attempt > self.policy.max_retries:
            raise NetworkError(
                f"{why} (gave up after {self.policy.max_retries} retries)",
                where=_redact(url),
                hint="check GITHUB_API_URL and the network; rerun to resume",
            )
        self._backoff(url, self.policy.base_backoff_s * (2 ** (attempt - 1)), why)

    def _http_error(self, url: str, status: int, body: bytes) -> BuildonceError:
        message = _message(body) or http.client.responses.get(status, "error")
        if self.token:
            # A proxy or test server may echo the request; the token must still not leak.
            message = message.replace(self.token, "***")
        where = _redact(url)
        if status == 401:
            return NetworkError(
                f"HTTP 401 {message}",
                where=where,
                hint="GITHUB_TOKEN is missing, expired or revoked",
            )
        if status == 403:
            return NetworkError(
                f"HTTP 403 {message}",
                where=where,
                hint="the token needs the 'actions: read' permission on this repository",
            )
        if status == 404:
            return InputError(
                f"HTTP 404 {message}",
                where=where,
                hint="check --repo OWNER/NAME and --workflow; private repositories need "
                "GITHUB_TOKEN",
            )
        return NetworkError(f"HTTP {status} {message}", where=where)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except ValueError:
        return None


def _message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return " ".join(data["message"].split())[:200]
    return ""


def _decode(body: bytes, url: str) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise NetworkError(
            f"response is not JSON ({exc})",
            where=_redact(url),
            hint="GITHUB_API_URL must point at the REST API (GHES: https://HOST/api/v3)",
        ) from None


def _redact(url: str) -> str:
    """The URL without userinfo or query secrets (``access_token=`` style)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = re.sub(r"(?i)(access_token|token)=[^&]*", r"\1=***", parts.query)
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")

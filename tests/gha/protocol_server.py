"""A local stand-in for GitHub's Actions cache service v2 and its Azure blob storage.

Written from the protocol as documented in ``cache-semantics.md`` §2-§5 and §9, not from
buildonce's client, so the tests check the client against the spec:

* Twirp JSON: ``POST /twirp/github.actions.results.api.v1.CacheService/<Method>`` with a
  bearer token; errors as ``{"code": ..., "msg": ...}`` with Twirp's HTTP mapping
  (``already_exists`` -> 409, ``unauthenticated`` -> 401, ``not_found`` -> 404).
* Lookup: for each readable scope in order (current ref, base, default branch) and each key
  in order (primary, then restore keys): exact match, else the newest entry whose key starts
  with it; the version must always match; keys compare case-insensitively.  Unfinalized
  entries are invisible.
* CreateCacheEntry reserves (key, version) in the writable scope: 409 if it exists or is
  being uploaded.  FinalizeCacheEntryUpload checks the committed blob's size.
* Blob endpoint ``/<account>/<container>/<name>?se=<expiry>&sig=<hmac>`` (Azure's path-style
  layout, as Azurite serves it) with block-blob semantics:
  ``Put Block`` (``comp=block&blockid=``), ``Put Block List`` (``comp=blocklist``),
  ``Put Blob`` (``x-ms-blob-type: BlockBlob``), ``Get Blob`` with ``x-ms-range``/``Range``.
  An expired or forged signature gets Azure's 403 ``AuthenticationFailed``.

Faults are injected per endpoint with :meth:`CacheServer.inject`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

SERVICE_PREFIX = "/twirp/github.actions.results.api.v1.CacheService/"
#: Path-style blob URLs (account, container, blob), so the Azure SDK parses them as Azurite's.
BLOB_PREFIX = "/actionscache/caches/"
READ, WRITE = 1, 2


@dataclass
class Entry:
    key: str
    version: str
    scope: str
    blob: str
    seq: int
    finalized: bool = False
    size: int = 0


@dataclass
class Fault:
    endpoint: str  # Twirp method name, "blob-put", "blob-get" or "*"
    status: int  # 0 = drop the connection without answering
    headers: dict[str, str] = field(default_factory=dict)
    remaining: int = 1
    after: int = 0  # let this many matching requests through first


class Link:
    """Shared bandwidth for blob bytes in both directions, like one runner's network link."""

    def __init__(self, bytes_per_second: float) -> None:
        self.rate = bytes_per_second
        self._lock = threading.Lock()
        self._free_at = 0.0

    def consume(self, n: int) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            now = time.monotonic()
            self._free_at = max(self._free_at, now) + n / self.rate
            wait = self._free_at - now
        if wait > 0:
            time.sleep(wait)


@dataclass
class Blob:
    staged: dict[str, bytes] = field(default_factory=dict)
    data: bytes | None = None


class CacheServer:
    """State of the fake service; run it with :func:`serve`."""

    def __init__(
        self,
        *,
        token: str = "runtime-token",
        scopes: tuple[tuple[str, int], ...] = (
            ("refs/heads/feature", READ | WRITE),
            ("refs/heads/main", READ),
        ),
        url_ttl: float = 600.0,
        link_bytes_per_second: float = 0.0,
    ) -> None:
        self.token = token
        self.scopes = scopes
        self.url_ttl = url_ttl
        self.link = Link(link_bytes_per_second)
        self.entries: list[Entry] = []
        self.blobs: dict[str, Blob] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []  # (endpoint, detail)
        self.lock = threading.Lock()
        self._secret = b"local-test-secret"
        self._seq = 0
        self.base_url = ""
        #: The next N signed URLs handed out are already expired (a slow job's stale URL).
        self.expire_next = 0
        #: Close every connection after its response without saying so (an idle timeout).
        self.drop_idle_connections = False

    # -- test helpers -----------------------------------------------------------------------

    def inject(
        self,
        endpoint: str,
        status: int,
        *,
        times: int = 1,
        after: int = 0,
        headers: dict[str, str] | None = None,
    ) -> None:
        with self.lock:
            self.faults.append(Fault(endpoint, status, dict(headers or {}), times, after))

    def seed(self, key: str, version: str, data: bytes, *, scope: str | None = None) -> Entry:
        """Store a finalized entry directly (as if another client had saved it)."""
        with self.lock:
            entry = self._new_entry(key, version, scope or self._write_scope())
            self.blobs[entry.blob] = Blob(data=data)
            entry.finalized, entry.size = True, len(data)
            return entry

    def blob_bytes(self, key: str) -> bytes:
        for entry in self.entries:
            if entry.key == key and entry.finalized:
                data = self.blobs[entry.blob].data
                assert data is not None
                return data
        raise KeyError(key)

    def calls(self, endpoint: str) -> int:
        return sum(1 for e, _ in self.requests if e == endpoint)

    # -- service logic ----------------------------------------------------------------------

    def _write_scope(self) -> str:
        for scope, perm in self.scopes:
            if perm & WRITE:
                return scope
        return ""

    def _new_entry(self, key: str, version: str, scope: str) -> Entry:
        self._seq += 1
        entry = Entry(key, version, scope, blob=f"cache-{self._seq}", seq=self._seq)
        self.entries.append(entry)
        self.blobs.setdefault(entry.blob, Blob())
        return entry

    def sign(self, blob: str, ttl: float | None = None) -> str:
        if self.expire_next > 0:
            self.expire_next -= 1
            ttl = -5.0
        expiry = str(int(time.time() + (self.url_ttl if ttl is None else ttl)))
        sig = hmac.new(self._secret, f"{blob}|{expiry}".encode(), hashlib.sha256).hexdigest()
        return f"{self.base_url}{BLOB_PREFIX}{blob}?se={expiry}&sig={sig}&sp=rcw"

    def check_signature(self, blob: str, query: dict[str, list[str]]) -> str | None:
        expiry = (query.get("se") or [""])[0]
        sig = (query.get("sig") or [""])[0]
        good = hmac.new(self._secret, f"{blob}|{expiry}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sig, good):
            return "Signature did not match"
        if not expiry.isdigit() or int(expiry) < time.time():
            return "Signed expiry time has expired"
        return None

    def lookup(self, key: str, restore_keys: list[str], version: str) -> Entry | None:
        for scope, perm in self.scopes:
            if not perm & READ:
                continue
            for wanted in [key, *restore_keys]:
                candidates = [
                    e
                    for e in self.entries
                    if e.finalized and e.scope == scope and e.version == version
                ]
                exact = [e for e in candidates if e.key.casefold() == wanted.casefold()]
                if exact:
                    return max(exact, key=lambda e: e.seq)
                prefixed = [e for e in candidates if e.key.casefold().startswith(wanted.casefold())]
                if prefixed:
                    return max(prefixed, key=lambda e: e.seq)
        return None

    def take_fault(self, endpoint: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.endpoint in (endpoint, "*") and fault.remaining > 0:
                    if fault.after > 0:
                        fault.after -= 1
                        continue
                    fault.remaining -= 1
                    return fault
        return None

    def twirp(self, method: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if method == "GetCacheEntryDownloadURL":
                entry = self.lookup(
                    str(body.get("key", "")),
                    [str(k) for k in body.get("restore_keys", [])],
                    str(body.get("version", "")),
                )
                if entry is None:
                    return 200, {"ok": False, "signed_download_url": "", "matched_key": ""}
                return 200, {
                    "ok": True,
                    "signed_download_url": self.sign(entry.blob),
                    "matched_key": entry.key,
                }
            if method == "CreateCacheEntry":
                key, version = str(body.get("key", "")), str(body.get("version", ""))
                scope = self._write_scope()
                if not scope:
                    return 403, {"code": "permission_denied", "msg": "cache token is read-only"}
                for e in self.entries:
                    if e.scope == scope and e.version == version and e.key == key:
                        return 409, {
                            "code": "already_exists",
                            "msg": "cache entry with the same key, version, and scope "
                            "already exists",
                        }
                entry = self._new_entry(key, version, scope)
                return 200, {"ok": True, "signed_upload_url": self.sign(entry.blob)}
            if method == "FinalizeCacheEntryUpload":
                key, version = str(body.get("key", "")), str(body.get("version", ""))
                size = int(str(body.get("size_bytes", "0")))
                scope = self._write_scope()
                for e in self.entries:
                    if e.scope == scope and e.version == version and e.key == key:
                        data = self.blobs[e.blob].data
                        if e.finalized:
                            return 409, {"code": "already_exists", "msg": "already finalized"}
                        if data is None or len(data) != size:
                            return 400, {
                                "code": "invalid_argument",
                                "msg": f"size {size} does not match the uploaded blob",
                            }
                        e.finalized, e.size = True, size
                        return 200, {"ok": True, "entry_id": str(e.seq)}
                return 404, {"code": "not_found", "msg": "no reservation for this key"}
        return 404, {"code": "bad_route", "msg": f"no handler for {method}"}


def _xml_error(code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
        f"<Message>{message}</Message></Error>"
    ).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes: with Nagle on, every small reply would wait
    # for the client's delayed ACK (~40 ms), a stall GitHub's and Azure's servers don't add.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            link = self.server.state.link
            if link.rate > 0 and self.path.startswith(BLOB_PREFIX):
                view = memoryview(body)
                for start in range(0, len(view), 1 << 20):
                    link.consume(len(view[start : start + (1 << 20)]))
                    self.wfile.write(view[start : start + (1 << 20)])
            else:
                self.wfile.write(body)
        if self.server.state.drop_idle_connections:
            self.close_connection = True

    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None):
        self._reply(
            status,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )

    def _body(self, *, throttled: bool = False) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if not throttled or self.server.state.link.rate <= 0:
            return self.rfile.read(length) if length else b""
        parts = []
        while length > 0:
            part = self.rfile.read(min(length, 1 << 20))
            if not part:
                break
            self.server.state.link.consume(len(part))
            parts.append(part)
            length -= len(part)
        return b"".join(parts)

    def _fault(self, endpoint: str) -> bool:
        fault = self.server.state.take_fault(endpoint)
        if fault is None:
            return False
        if fault.status == 0:
            self.close_connection = True
            self.connection.shutdown(2)
            return True
        if endpoint.startswith("blob"):
            self._reply(fault.status, _xml_error("Injected", "fault"), fault.headers)
        else:
            self._json(fault.status, {"code": "internal", "msg": "injected fault"}, fault.headers)
        return True

    def do_POST(self) -> None:
        state = self.server.state
        path = urlsplit(self.path).path
        body = self._body()
        if not path.startswith(SERVICE_PREFIX):
            self._json(404, {"code": "bad_route", "msg": path})
            return
        method = path[len(SERVICE_PREFIX) :]
        state.requests.append((method, ""))
        if self.headers.get("Authorization") != f"Bearer {state.token}":
            self._json(401, {"code": "unauthenticated", "msg": "invalid runtime token"})
            return
        if self.headers.get("Content-Type", "").split(";")[0] != "application/json":
            self._json(400, {"code": "malformed", "msg": "expected application/json"})
            return
        if self._fault(method):
            return
        try:
            payload = json.loads(body or b"{}")
        except json.JSONDecodeError:
            self._json(400, {"code": "malformed", "msg": "bad json"})
            return
        status, reply = state.twirp(method, payload)
        self._json(status, reply)

    def _blob_target(self) -> tuple[str, dict[str, list[str]]] | None:
        parts = urlsplit(self.path)
        match = re.fullmatch(re.escape(BLOB_PREFIX) + r"([\w.-]+)", parts.path)
        if not match:
            self._reply(404, _xml_error("ResourceNotFound", "no such path"))
            return None
        query = parse_qs(parts.query)
        problem = self.server.state.check_signature(match.group(1), query)
        if problem is not None:
            self._body()
            self._reply(403, _xml_error("AuthenticationFailed", problem))
            return None
        return match.group(1), query

    def do_PUT(self) -> None:
        state = self.server.state
        target = self._blob_target()
        if target is None:
            return
        name, query = target
        comp = (query.get("comp") or [""])[0]
        state.requests.append(("blob-put", comp))
        if self._fault("blob-put"):
            return
        body = self._body(throttled=True)
        with state.lock:
            blob = state.blobs.setdefault(name, Blob())
            if comp == "block":
                block_id = (query.get("blockid") or [""])[0]
                try:
                    base64.b64decode(block_id, validate=True)
                except ValueError:
                    self._reply(400, _xml_error("InvalidQueryParameterValue", "blockid"))
                    return
                if blob.staged and len(next(iter(blob.staged))) != len(block_id):
                    self._reply(400, _xml_error("InvalidBlobOrBlock", "block id length"))
                    return
                blob.staged[block_id] = body
            elif comp == "blocklist":
                ids = [el.text or "" for el in ET.fromstring(body)]
                missing = [i for i in ids if i not in blob.staged]
                if missing:
                    self._reply(400, _xml_error("InvalidBlockList", f"unknown {missing[0]}"))
                    return
                blob.data = b"".join(blob.staged[i] for i in ids)
                blob.staged.clear()
            elif self.headers.get("x-ms-blob-type") == "BlockBlob":
                blob.data = body
            else:
                self._reply(400, _xml_error("MissingRequiredHeader", "x-ms-blob-type"))
                return
        self._reply(201)

    def do_GET(self) -> None:
        self._get()

    def do_HEAD(self) -> None:
        self._get()

    def _get(self) -> None:
        state = self.server.state
        target = self._blob_target()
        if target is None:
            return
        name, _query = target
        rng = self.headers.get("x-ms-range") or self.headers.get("Range")
        state.requests.append(("blob-get", rng or ""))
        if self._fault("blob-get"):
            return
        with state.lock:
            blob = state.blobs.get(name)
            data = blob.data if blob is not None else None
        if data is None:
            self._reply(404, _xml_error("BlobNotFound", name))
            return
        if not rng:
            self._reply(200, data, {"Content-Type": "application/octet-stream"})
            return
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", rng)
        if not match:
            self._reply(400, _xml_error("InvalidRange", rng))
            return
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) else len(data) - 1
        if start >= len(data):
            self._reply(416, _xml_error("InvalidRange", rng), {"Content-Range": f"*/{len(data)}"})
            return
        end = min(end, len(data) - 1)
        self._reply(
            206,
            data[start : end + 1],
            {"Content-Range": f"bytes {start}-{end}/{len(data)}"},
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: CacheServer


def serve(state: CacheServer) -> Iterator[CacheServer]:
    """Run the server on 127.0.0.1 for the duration of a ``with``/fixture."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = state
    host, port = server.server_address[:2]
    state.base_url = f"http://{host}:{port}"
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="cache-server",
        daemon=True,
    )
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def quote_blockid(block_id: str) -> str:
    return quote(block_id, safe="")

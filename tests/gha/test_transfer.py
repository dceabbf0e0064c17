"""The transfer layer under the gha store: socket options and the ranged-read stream."""

from __future__ import annotations

import os
import socket
from concurrent.futures import ThreadPoolExecutor

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildonce.store.gha import _ChunkStream
from buildonce.store.gha_service import BlobClient, HttpTransport, RetryPolicy
from gha.protocol_server import CacheServer


def test_client_connections_disable_nagle(server: CacheServer) -> None:
    # With Nagle on, each request's short tail waited for the server's delayed ACK
    # (~40 ms per Twirp call and per block); the client must send at once.
    entry = server.seed("k", "v", b"x" * 1000)
    transport = HttpTransport()
    try:
        blob = BlobClient(server.sign(entry.blob), transport=transport, retry=RetryPolicy())
        assert blob.get_range(0, 9) == (b"x" * 10, 1000)
        conns = transport._conns._all
        assert conns
        assert all(c.sock is not None for c in conns)
        for conn in conns:
            assert conn.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        transport.close()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    size=st.integers(min_value=1, max_value=5000),
    chunk=st.integers(min_value=1, max_value=1500),
    depth=st.integers(min_value=1, max_value=4),
    reads=st.lists(st.integers(min_value=-1, max_value=2000), min_size=1, max_size=8),
)
def test_chunk_stream_read_returns_the_blob_in_order(
    server: CacheServer, size: int, chunk: int, depth: int, reads: list[int]
) -> None:
    # unpack reads the stream directly (no BufferedReader): any mix of read sizes, across
    # chunk boundaries, must yield exactly the blob's bytes and then b"".
    data = os.urandom(size)
    entry = server.seed(f"k{size}-{chunk}", "v", data)
    transport = HttpTransport()
    try:
        blob = BlobClient(server.sign(entry.blob), transport=transport, retry=RetryPolicy())
        with ThreadPoolExecutor(depth) as pool:
            stream = _ChunkStream(blob, pool, chunk, depth)
            got = bytearray()
            for i in range(size + len(reads) + 2):
                n = reads[i % len(reads)]
                piece = stream.read(n)
                if not piece:
                    if n == 0:
                        continue
                    break
                assert n < 0 or len(piece) <= n
                got += piece
            while rest := stream.read(-1):  # what the mixed reads left (e.g. all were 0)
                got += rest
            assert stream.read(100) == b""
            stream.cancel()
        assert bytes(got) == data
        assert stream.received == stream.total == size
    finally:
        transport.close()

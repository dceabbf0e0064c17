"""LocalStore: the embedded default, a directory on the runner's (or developer's) disk.

Why plain files and not SQLite for metadata: the layout is the same as the S3 backend's
(one shared implementation, :class:`~buildonce.store.base.ObjectStore`), every write is a
create-then-rename that survives SIGKILL at any point without a journal, and concurrent
processes need no lock: "first writer wins" is ``os.link`` of a finished temp file, which
fails with EEXIST for everyone but the first.  Archives are stored uncompressed: on a local
disk a copy (GB/s) is faster than zstd (hundreds of MB/s), engines.md §3.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from buildonce.errors import ConfigError, StoreError
from buildonce.store.base import ObjectStore, Progress

CHUNK = 1 << 20


class LocalStore(ObjectStore):
    compression = "none"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().absolute()
        self.url = str(self.root)
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(
                "the store location exists and is not a directory",
                where=str(self.root),
                hint="point --store or BUILDONCE_CACHE_DIR at a directory",
            )
        try:
            (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the store directory ({exc.strerror})",
                where=str(self.root),
                hint="choose a writable location with --store or BUILDONCE_CACHE_DIR",
            ) from exc

    @classmethod
    def from_url(cls, url: str, env: Mapping[str, str]) -> LocalStore:
        parts = urlsplit(url)
        if parts.scheme.lower() == "file":
            if parts.netloc not in ("", "localhost"):
                raise ConfigError(
                    f"file URLs must name a local path, not host {parts.netloc!r}",
                    where=url,
                    hint="write file:///absolute/path or just the path",
                )
            return cls(Path(unquote(parts.path)))
        return cls(Path(url))

    # -- helpers ---------------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        return self.root.joinpath(*name.split("/"))

    def _temp(self) -> Path:
        return self.root / "tmp" / f"{uuid.uuid4().hex}.part"

    def temp_dir(self) -> Path:
        """A scratch directory on the store's file system (renames stay atomic)."""
        return self.root / "tmp"

    # -- primitives ------------------------------------------------------------------------
    def _put_file(self, name: str, path: Path, progress: Progress) -> None:
        dest = self._path(name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._temp()
        try:
            try:
                # Same file system: a hard link is instant and the archive is already ours.
                os.link(path, tmp)
                progress(os.path.getsize(tmp))
            except OSError:
                with open(path, "rb") as src, open(tmp, "wb") as out:
                    _copy(src, out, progress)
            os.replace(tmp, dest)
        except OSError as exc:
            raise StoreError(f"cannot write ({exc.strerror})", where=str(dest)) from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def _put_if_absent(self, name: str, data: bytes) -> bool:
        dest = self._path(name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._temp()
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                # link() never replaces: exactly one of N racing savers succeeds, and the
                # record appears complete (it was written and synced before the link).
                os.link(tmp, dest)
            except FileExistsError:
                return False
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def _put(self, name: str, data: bytes) -> None:
        dest = self._path(name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._temp()
        try:
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def _get(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except IsADirectoryError:
            return None

    def _get_file(self, name: str, sink: BinaryIO, progress: Progress) -> None:
        try:
            with open(self._path(name), "rb") as src:
                _copy(src, sink, progress)
        except FileNotFoundError as exc:
            raise StoreError("the entry's content is missing", where=str(self._path(name))) from exc

    def open_blob(self, name: str) -> BinaryIO:
        """Local fast path: restore reads the archive in place instead of copying it first."""
        try:
            return open(self._path(name), "rb", buffering=0)
        except FileNotFoundError as exc:
            raise StoreError("the entry's content is missing", where=str(self._path(name))) from exc

    def _list(self, prefix: str) -> Iterator[str]:
        # Walk from the deepest existing directory the prefix names, then filter by string.
        head, _, _ = prefix.rpartition("/")
        start = self._path(head) if head else self.root
        if not start.is_dir():
            return
        for dirpath, _dirnames, filenames in os.walk(start):
            rel_dir = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            for filename in filenames:
                name = filename if rel_dir == "." else f"{rel_dir}/{filename}"
                if name.startswith(prefix) and not name.startswith("tmp/"):
                    yield name

    def _delete(self, name: str) -> None:
        path = self._path(name)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        # Tidy empty parent directories up to the top-level folder, ignoring races.
        parent = path.parent
        while self.root not in (parent, parent.parent):
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def clean_temp(self, older_than_s: float, now: float | None = None) -> int:
        """Remove scratch files a killed process left behind; returns how many."""
        import time

        removed = 0
        cutoff = (time.time() if now is None else now) - older_than_s
        for entry in os.scandir(self.root / "tmp"):
            try:
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def make_temp_dir(self) -> Path:
        return Path(tempfile.mkdtemp(dir=self.root / "tmp"))


def _copy(src: BinaryIO, dst: BinaryIO, progress: Progress) -> None:
    while chunk := src.read(CHUNK):
        dst.write(chunk)
        progress(len(chunk))

"""The cache version must equal the toolkit's, or actions/cache and buildonce never meet."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildonce.store.gha_service import (
    COMPRESSION_GZIP,
    COMPRESSION_ZSTD,
    COMPRESSION_ZSTD_LONG,
    cache_version,
)

# actions/toolkit packages/cache/__tests__/cacheHttpClient.test.ts (cache-semantics.md §3).
TOOLKIT_VECTORS = [
    (
        ["node_modules"],
        None,
        False,
        True,
        "b3e0c6cb5ecf32614eeb2997d905b9c297046d7cbf69062698f25b14b4cb0985",
    ),
    (
        ["node_modules", "dist"],
        None,
        False,
        True,
        "165c3053bc646bf0d4fac17b1f5731caca6fe38e0e464715c0c3c6b6318bf436",
    ),
    (
        ["node_modules"],
        COMPRESSION_ZSTD_LONG,
        False,
        True,
        "273877e14fd65d270b87a198edbfa2db5a43de567c9a548d2a2505b408befe24",
    ),
    (
        ["node_modules"],
        COMPRESSION_GZIP,
        False,
        True,
        "470e252814dbffc9524891b17cf4e5749b26c1b5026e63dd3f00972db2393117",
    ),
    (
        ["node_modules"],
        None,
        True,
        False,
        "2db19d6596dc34f51f0043120148827a264863f5c6ac857569c2af7119bad14e",
    ),
    # What a Linux hosted runner sends (zstd present, so zstd-without-long).
    (
        ["node_modules"],
        COMPRESSION_ZSTD,
        False,
        False,
        "7fcda33c1e1d849a13bcc06f49b9ab64efc01ca9dabe4d7a8d0d387feef4fc88",
    ),
    (
        ["~/.cache/go-build", "~/go/pkg/mod"],
        COMPRESSION_ZSTD,
        False,
        False,
        "947557cc2d2a8d1fb62f20f60a2137dfe9f57238bfbd84c05bc7ddb26173bba8",
    ),
]


@pytest.mark.parametrize(
    ("paths", "compression", "windows", "cross_os", "expected"), TOOLKIT_VECTORS
)
def test_toolkit_version_vectors(
    paths: list[str], compression: str | None, windows: bool, cross_os: bool, expected: str
) -> None:
    assert cache_version(paths, compression, windows=windows, cross_os=cross_os) == expected


def test_cross_os_makes_windows_agree_with_linux() -> None:
    linux = cache_version(["bin/app"])
    assert cache_version(["bin/app"], windows=True, cross_os=True) == linux
    assert cache_version(["bin/app"], windows=True) != linux


@given(st.lists(st.text(min_size=1).filter(lambda s: "|" not in s), min_size=1, max_size=4))
def test_path_order_and_spelling_change_the_version(paths: list[str]) -> None:
    # Paths are hashed exactly as written and in order: that is why a mismatch is a miss.
    expected = hashlib.sha256("|".join([*paths, COMPRESSION_ZSTD, "1.0"]).encode()).hexdigest()
    assert cache_version(paths) == expected
    if len(set(paths)) > 1:
        assert cache_version(list(reversed(paths))) != expected or paths == paths[::-1]
    assert cache_version([*paths[:-1], paths[-1] + "/"]) != expected

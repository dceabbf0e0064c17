from __future__ import annotations

import subprocess
import sys

import pytest

from buildonce import __version__
from buildonce.cli import main


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"buildonce {__version__}"


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: buildonce" in capsys.readouterr().out


def test_help_does_not_import_heavy_modules() -> None:
    # `buildonce --help` must stay fast: none of these may be imported just to print help.
    code = (
        "import sys; from buildonce.cli import build_parser; build_parser().format_help(); "
        "heavy = [m for m in ('yaml', 'zstandard', 'boto3', 'sqlite3', 'psycopg', 'matplotlib',"
        " 'hypothesis', 'urllib.request', 'http.client', 'concurrent.futures')"
        " if m in sys.modules];"
        " print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_python_dash_m_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "buildonce", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"buildonce {__version__}"


def test_cli_quota_default_is_the_model_quota() -> None:
    from buildonce.cli.store import DEFAULT_QUOTA_BYTES
    from buildonce.model import REPOSITORY_QUOTA_BYTES

    assert DEFAULT_QUOTA_BYTES == REPOSITORY_QUOTA_BYTES

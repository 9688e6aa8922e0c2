"""Run the real ``policywatch`` console script in a subprocess, against a test's own files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("policywatch")


def policywatch(*args: str) -> list[str]:
    """The command line for the installed console script (or ``python -m policywatch``)."""
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "policywatch"]
    return command + list(args)


def cli_env(tmp_path: Path, watchlist: str = "watchlist.yaml", **extra: str) -> dict[str, str]:
    """The environment of a run using ``tmp_path/pw.db`` and ``tmp_path/<watchlist>``."""
    return {**os.environ, "POLICYWATCH_DB": str(tmp_path / "pw.db"),
            "POLICYWATCH_WATCHLIST": str(tmp_path / watchlist), **extra}


def run_cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None, watchlist: str = "watchlist.yaml",
            timeout: float = 120, text: bool = True) -> subprocess.CompletedProcess:
    """The console script run to its end; ``text=False`` keeps its output as bytes."""
    return subprocess.run(policywatch(*args), capture_output=True, text=text, cwd=tmp_path, timeout=timeout,
                          env=cli_env(tmp_path, watchlist, **(env or {})))


def start_cli(tmp_path: Path, *args: str, watchlist: str = "watchlist.yaml") -> subprocess.Popen:
    """A run in the background (to be killed by the test), its output discarded."""
    return subprocess.Popen(policywatch(*args), cwd=tmp_path, env=cli_env(tmp_path, watchlist),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

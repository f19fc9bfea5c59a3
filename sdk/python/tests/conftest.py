"""The tests run against the installed package (`pip install ./sdk/python[test]`), so they
also prove that it installs with its data files."""

import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[3]


def quell_binary() -> str:
    """The quell binary the test suite built (QUELL_BIN, or the repository's debug build)."""
    path = os.environ.get("QUELL_BIN") or str(ROOT / "target" / "debug" / "quell")
    if not os.path.exists(path):
        raise RuntimeError(f"quell binary not found at {path}: run `cargo build` first or set QUELL_BIN")
    return path


import pytest  # noqa: E402


@pytest.fixture
def store(tmp_path):
    """A store path in a fresh folder (the test or the agent creates the store)."""
    return tmp_path / "quell.db"

import os, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("IN_TEST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

@pytest.fixture
def repo_root() -> Path:
    return ROOT

@pytest.fixture
def venv_bin() -> Path:
    "Folder of the console scripts of the Python running the tests."
    return Path(sys.executable).parent

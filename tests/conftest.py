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


def _runs_snapshot() -> dict:
    runs = ROOT / "runs"
    return {str(p): p.stat().st_mtime for p in runs.rglob("*")} if runs.is_dir() else {}

def pytest_sessionstart(session):
    session.config._fairkd_runs_before = _runs_snapshot()

def pytest_sessionfinish(session, exitstatus):
    "The tests must never write into the repository's runs/ folder (they use temporary folders)."
    before = getattr(session.config, "_fairkd_runs_before", None)
    if before is None: return
    after = _runs_snapshot()
    changed = sorted(k for k in after if before.get(k) != after[k])
    if changed:
        print(f"\nERROR: the tests wrote into {ROOT / 'runs'}: {changed[:5]}{' ...' if len(changed) > 5 else ''}")
        session.exitstatus = 1

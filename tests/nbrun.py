"""One way for the test files to rerun a method notebook with papermill, as a user would from the repository root."""
import os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def papermill(notebook: str, args, out_dir, out_path, timeout: int = 900) -> subprocess.CompletedProcess:
    "`papermill nbs/<notebook>.ipynb <out_path> <args> -p out_dir <out_dir>` under the smoke preset, on one thread."
    env = {**os.environ, "IN_TEST": "1", "OMP_NUM_THREADS": "1"}
    cmd = [str(BIN / "papermill"), f"nbs/{notebook}.ipynb", str(out_path), *args, "-p", "out_dir", str(out_dir),
           "--no-progress-bar"]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)

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


def check_report(run: Path, title: str | None = None, n_rows_min: int = 1, n_figures: tuple = (1, 4)) -> dict:
    "report.json of a finished run: valid rows (setting, seed, numbers), every metric in some row, figures on disk, claims."
    import json
    rep = json.loads((Path(run) / "report.json").read_text())
    assert rep["rows"] and len(rep["rows"]) >= n_rows_min and rep["metrics"]
    if title is not None: assert rep["title"] == title, rep["title"]
    for row in rep["rows"]:
        assert isinstance(row["setting"], str) and isinstance(row["seed"], int)
        for k in rep["metrics"]:
            assert row.get(k) is None or isinstance(row[k], (int, float)), (row["setting"], k)
    for k in rep["metrics"]:
        assert any(isinstance(r.get(k), (int, float)) for r in rep["rows"]), k
    assert n_figures[0] <= len(rep["figures"]) <= n_figures[1], rep["figures"]
    for f in rep["figures"]: assert (Path(run) / "figures" / f).stat().st_size > 1000, f
    for c in rep["claims"]:
        assert {"claim", "paper", "measured", "reproduced"} <= set(c) and c["reproduced"] in (True, False, None)
    return rep

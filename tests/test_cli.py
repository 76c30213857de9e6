"""The `fairkd` command through real kernels (papermill) and real subprocesses: one run folder, live progress,
checks before any kernel starts, one-line errors, and the refusal outside the repository."""
import json, os, subprocess, sys
from pathlib import Path
import pytest
from fairkd_nb.runner import _toy_notebook

ROOT = Path(__file__).resolve().parents[1]

def _fairkd(venv_bin, *args, cwd=None, env=None):
    e = {**os.environ, **(env or {})}
    return subprocess.run([str(venv_bin / "fairkd"), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=e,
                          timeout=600)

@pytest.fixture
def toy_nb(tmp_path):
    body = "from fairkd_nb.core import progress\nfor _ in progress(range(3), desc='epoch 1/1', every=0): pass\n"
    return _toy_notebook(tmp_path / "nbs" / "toy.ipynb", body=body, params="lr: float = 0.1  # learning rate\n")

def test_papermill_direct_checks_params_in_kernel(toy_nb, tmp_path):
    import papermill as pm
    out = tmp_path / "o.ipynb"
    pm.execute_notebook(str(toy_nb), str(out), parameters={"seed": 3, "out_dir": str(tmp_path / "runs"), "run_id": "a"},
                        progress_bar=False)
    assert json.loads((tmp_path / "runs/toy/a/metrics.json").read_text())["acc"] == pytest.approx(0.8)
    # a mistyped name: papermill only warns, the notebook's own check stops the run and names it
    with pytest.raises(pm.PapermillExecutionError, match="did you mean 'seed'"):
        pm.execute_notebook(str(toy_nb), str(out), parameters={"sed": 3}, progress_bar=False)
    with pytest.raises(pm.PapermillExecutionError, match="'seed' must be of type int"):
        pm.execute_notebook(str(toy_nb), str(out), parameters={"seed": "three"}, progress_bar=False)

def test_run_one_folder_with_live_progress(toy_nb, tmp_path, venv_bin):
    "`-p out_dir DIR` is the runs folder for everything; cells, kernel output and progress lines are printed as they come."
    r = _fairkd(venv_bin, "run", toy_nb, "-p", "seed", 2, "-p", "alpha", "plain", "-p", "out_dir", tmp_path / "mine",
                "--run-id", "r1")
    assert r.returncode == 0, r.stderr
    run = tmp_path / "mine/toy/r1"
    for f in ("notebook.ipynb", "params.json", "metrics.json", "status.json", "log.txt"): assert (run / f).is_file(), f
    assert json.loads((run / "metrics.json").read_text()) == {"acc": pytest.approx(0.7), "plain": 1.0}
    st = json.loads((run / "status.json").read_text())
    assert st["status"] == "done" and st["wall_s"] > 0 and len(st["cell_seconds"]) == 5     # the test-tagged cell skipped
    assert "[cell 1/5" in r.stdout and "training 2" in r.stdout and "[progress] epoch 1/1: 3/3 (100%)" in r.stdout
    assert "1 test cells skipped" in r.stdout and f"run folder: {run}" in r.stdout
    assert not (ROOT / "runs" / "toy").exists()
    # a rerun of the same notebook and preset shows an ETA from the earlier run's cell durations
    r = _fairkd(venv_bin, "run", toy_nb, "--out-dir", tmp_path / "mine", "--with-tests")
    assert r.returncode == 0 and "[cell 1/6" in r.stdout, r.stdout          # --with-tests keeps the test cell
    r = _fairkd(venv_bin, "run", toy_nb, "--out-dir", tmp_path / "mine")
    assert r.returncode == 0 and ", eta 0:" in r.stdout and "ETA from an earlier run" in r.stdout, r.stdout

def test_error_inside_notebook_is_one_line_and_marks_the_run(toy_nb, tmp_path, venv_bin):
    r = _fairkd(venv_bin, "run", toy_nb, "-p", "fail", "True", "--out-dir", tmp_path / "runs", "--run-id", "bad", "-q")
    assert r.returncode == 1
    err = [l for l in r.stderr.splitlines() if l.startswith("fairkd:")]
    assert err[0] == "fairkd: error: ValueError: alpha='adaptive' cannot be used with seed 0", r.stderr
    assert "marked failed" in err[1] and "Traceback" not in r.stderr
    st = json.loads((tmp_path / "runs/toy/bad/status.json").read_text())
    assert st["status"] == "failed" and st["error"].startswith("ValueError: alpha=")

@pytest.mark.parametrize("args, expect", [
    (["-p", "alpha", "nonsense"], ["'alpha' got 'nonsense'", "allowed: adaptive | plain | a number in [0, 1]"]),
    (["-p", "alhpa", "adaptive"], ["'alhpa' (did you mean 'alpha'?)", "Allowed parameters:"]),
    (["-p", "dataset", "ms1mv2"], ["dataset 'ms1mv2'", "pass -p data_root", "data/README.md"]),
    (["-p", "dataset", "celeba"], ["allowed: synth | ms1mv2 | bupt"]),
    (["-p", "preset", "corse"], ["Did you mean 'course'"]),
])
def test_real_notebook_mistakes_stop_before_a_kernel(args, expect, tmp_path, venv_bin):
    "The issue's three mistakes on the real AdaDistill notebook: exit 2, the problem and the allowed values named, no run started."
    r = _fairkd(venv_bin, "run", ROOT / "nbs/adadistill.ipynb", *args, "--out-dir", tmp_path / "runs")
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip()
    assert line.startswith("fairkd: error: adadistill.ipynb: ") and "Traceback" not in line
    for e in expect: assert e in line, line
    assert not (tmp_path / "runs").exists() and "[cell" not in r.stdout          # nothing ran, nothing written

def test_outside_the_repository(tmp_path, venv_bin):
    env = {k: v for k, v in os.environ.items() if k != "FAIRKD_ROOT"}
    for args in (["list"], ["run", "adadistill"], ["bench"]):
        r = subprocess.run([str(venv_bin / "fairkd"), *args], capture_output=True, text=True, cwd=tmp_path, env=env)
        assert r.returncode == 2 and "not inside a fairkd_nb checkout" in r.stderr, (args, r.stderr)
    r = subprocess.run([str(venv_bin / "fairkd"), "list"], capture_output=True, text=True, cwd=tmp_path,
                       env={**env, "FAIRKD_ROOT": str(ROOT)})
    assert r.returncode == 0 and "adadistill" in r.stdout
    r = _fairkd(venv_bin, "params", "adadistill", cwd=ROOT)
    assert "alpha" in r.stdout and "adaptive" in r.stdout

def test_tour_notebook_writes_group_grids(tmp_path):
    "The tour: one SynthFaces grid PNG per group and teacher/student fairness metrics."
    from fairkd_nb.runner import run_notebook
    dest = run_notebook("tour", {"preset": "smoke"}, out_dir=tmp_path / "runs", run_id="t")
    run = dest.parent
    for g in "ABCD": assert (run / "figures" / f"synthfaces_group_{g}.png").stat().st_size > 1000
    m = json.loads((run / "metrics.json").read_text())
    for who in ("teacher", "student"):
        assert 0 <= m[f"{who}/accuracy"] <= 1 and 0 <= m[f"{who}/eo_max"] <= 1
    assert json.loads((run / "params.json").read_text())["preset_resolved"] == "smoke"

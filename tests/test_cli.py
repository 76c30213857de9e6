"""The `fairkd` command and parameter checking, through real kernels (papermill) and real subprocesses."""
import json, subprocess, sys
from pathlib import Path
import pytest

def _nb(path: Path, cells):
    nb = {"cells": [], "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    for i, (src, tags) in enumerate(cells):
        nb["cells"].append({"cell_type": "code", "id": f"cell{i}", "metadata": {"tags": tags} if tags else {}, "outputs": [],
                            "execution_count": None, "source": src})
    path.write_text(json.dumps(nb))
    return path

@pytest.fixture
def toy_nb(tmp_path):
    return _nb(tmp_path / "toy.ipynb", [
        ("from fairkd_nb.core import check_params, RunDir\n_before_params = set(globals())", []),
        ("seed: int = 0  # random seed\nalpha: str = 'adaptive'  # adaptive | plain\n"
         "lr: float = 0.1  # learning rate\nout_dir: str = ''  # runs folder\nrun_id: str = ''  # run folder name", ["parameters"]),
        ("params = check_params(globals(), _before_params)\n"
         "run = RunDir('toy', run_id or None, root=out_dir or 'runs')\nrun.save_params(params)\n"
         "run.save_metrics({'seed_times_lr': seed * lr, 'alpha_is_plain': float(alpha == 'plain')})", []),
    ])

def test_papermill_direct_checks_params_in_kernel(toy_nb, tmp_path):
    import papermill as pm
    out = tmp_path / "o.ipynb"
    pm.execute_notebook(str(toy_nb), str(out), parameters={"seed": 3, "lr": 0.5, "out_dir": str(tmp_path / "runs"), "run_id": "a"},
                        progress_bar=False)
    m = json.loads((tmp_path / "runs/toy/a/metrics.json").read_text())
    assert m == {"seed_times_lr": 1.5, "alpha_is_plain": 0.0}
    # a mistyped name: papermill only warns, the notebook's own check stops the run and names it
    with pytest.raises(pm.PapermillExecutionError, match="did you mean 'seed'"):
        pm.execute_notebook(str(toy_nb), str(out), parameters={"sed": 3}, progress_bar=False)
    # a wrong type
    with pytest.raises(pm.PapermillExecutionError, match="'seed' must be of type int"):
        pm.execute_notebook(str(toy_nb), str(out), parameters={"seed": "three"}, progress_bar=False)

def test_cli_run_and_errors(toy_nb, tmp_path, venv_bin):
    fairkd = str(venv_bin / "fairkd")
    r = subprocess.run([fairkd, "run", str(toy_nb), "-p", "sed", "1"], capture_output=True, text=True)
    assert r.returncode == 2 and "did you mean 'seed'" in r.stderr and "Allowed parameters" in r.stderr
    r = subprocess.run([fairkd, "run", str(toy_nb), "-p", "seed", "1.5"], capture_output=True, text=True)
    assert r.returncode == 2 and "'seed' must be of type int" in r.stderr
    r = subprocess.run([fairkd, "run", str(toy_nb), "-p", "seed", "2", "-p", "alpha", "plain", "--out-dir",
                        str(tmp_path / "runs"), "--run-id", "r1"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    run = tmp_path / "runs/toy/r1"
    assert json.loads((run / "metrics.json").read_text()) == {"seed_times_lr": 0.2, "alpha_is_plain": 1.0}
    assert (run / "notebook.ipynb").exists()        # the executed copy lives with the run, not in nbs/
    r = subprocess.run([fairkd, "leaderboard", "toy", "--root", str(tmp_path / "runs")], capture_output=True, text=True)
    assert r.returncode == 0 and "seed_times_lr" in r.stdout
    # one seed: the table says n=1 instead of showing a zero (or NaN) spread
    assert "0.2 (n=1)" in r.stdout and "±" not in r.stdout and "NaN" not in r.stdout, r.stdout
    r = subprocess.run([fairkd, "params", str(toy_nb)], capture_output=True, text=True)
    assert "random seed" in r.stdout and "alpha" in r.stdout


def test_tour_demo_notebook_writes_group_grids(tmp_path):
    "The first job of `make demo`: one SynthFaces grid PNG per group and teacher/student fairness metrics."
    from fairkd_nb.runner import run_notebook
    dest = run_notebook("tour", {"preset": "smoke"}, out_dir=tmp_path / "runs", run_id="t")
    run = dest.parent
    for g in "ABCD": assert (run / "figures" / f"synthfaces_group_{g}.png").stat().st_size > 1000
    m = json.loads((run / "metrics.json").read_text())
    for who in ("teacher", "student"):
        assert 0 <= m[f"{who}/accuracy"] <= 1 and 0 <= m[f"{who}/eo_max"] <= 1
    assert json.loads((run / "params.json").read_text())["preset_resolved"] == "smoke"

"""Sweeps: points keyed by a parameter hash, finished points skipped, a killed sweep completed by rerunning it,
list-valued parameters, a local process pool and submitit's local executor; the report and `fairkd bench`."""
import base64, html.parser, io, json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest
from fairkd_nb.runner import _toy_notebook, point_id, bench, report

ROOT = Path(__file__).resolve().parents[1]
LOGGED = ("import os, time\nopen(os.environ['TOY_LOG'], 'a').write(f'{seed} {alpha}\\n')\n"
          "time.sleep(float(os.environ.get('TOY_SLEEP', '0')))\n")

def _statuses(d: Path) -> dict:
    return {p.parent.name: json.loads(p.read_text())["status"] for p in d.glob("toy/pt-*/status.json")}

def _executions(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []

def test_killed_sweep_completes_only_missing_points(tmp_path, venv_bin):
    nb = _toy_notebook(tmp_path / "nbs" / "toy.ipynb", body=LOGGED)
    out, log = tmp_path / "runs", tmp_path / "executions.log"
    cmd = [str(venv_bin / "fairkd"), "sweep", str(nb), "--seeds", "0,1,2,3", "--out-dir", str(out)]
    env = {**os.environ, "TOY_LOG": str(log), "TOY_SLEEP": "2"}
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    t0 = time.time()
    while sum(s == "done" for s in _statuses(out).values()) < 2:
        assert p.poll() is None and time.time() - t0 < 300, "the sweep ended or stalled before two points finished"
        time.sleep(0.2)
    os.killpg(p.pid, signal.SIGKILL); p.wait()                          # kill the sweep, its workers and kernels
    time.sleep(1)
    before = _statuses(out)
    done_before = {k for k, s in before.items() if s == "done"}
    assert 2 <= len(done_before) < 4 and len(_executions(log)) < 4 + 1
    n_exec_before = len(_executions(log))
    r = subprocess.run(cmd, env={**env, "TOY_SLEEP": "0"}, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"4 points: {len(done_before)} already done (skipped), {4 - len(done_before)} to run" in r.stderr, r.stderr
    after = _statuses(out)
    assert len(after) == 4 and set(after.values()) == {"done"}
    # only the missing points ran again: the finished ones were executed exactly once in all
    runs = _executions(log)
    assert len(runs) - n_exec_before == 4 - len(done_before)
    seeds_done = {json.loads((out / "toy" / k / "params.json").read_text())["seed"] for k in done_before}
    for s in seeds_done: assert runs.count(f"{s} adaptive") == 1, runs
    # the same command once more runs nothing
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert "4 already done (skipped), 0 to run" in r.stderr and len(_executions(log)) == len(runs)

def test_grid_with_list_values_in_a_process_pool(tmp_path, venv_bin):
    nb = _toy_notebook(tmp_path / "nbs" / "toy.ipynb", body=LOGGED, params="group_props: str = '0.7,0.3'  # shares, comma-separated\n")
    out, log = tmp_path / "runs", tmp_path / "x.log"
    r = subprocess.run([str(venv_bin / "fairkd"), "sweep", str(nb), "--grid", "group_props=0.7,0.3;0.5,0.5",
                        "--grid", "alpha=plain,adaptive", "--workers", "2", "--out-dir", str(out)],
                       env={**os.environ, "TOY_LOG": str(log)}, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "4/4 points done" in r.stdout
    got = sorted((json.loads(p.read_text())["group_props"], json.loads(p.read_text())["alpha"]) for p in out.glob("toy/pt-*/params.json"))
    assert got == sorted((g, a) for g in ("0.7,0.3", "0.5,0.5") for a in ("plain", "adaptive"))
    # each point's folder is the hash of its parameters
    for p in out.glob("toy/pt-*/params.json"):
        prm = {k: v for k, v in json.loads(p.read_text()).items() if k in ("group_props", "alpha")}
        assert p.parent.name == point_id("toy", {"group_props": prm["group_props"], "alpha": prm["alpha"]})

def test_submitit_local_launcher(tmp_path, venv_bin):
    "The cluster path (`--launcher slurm`) through submitit, exercised with submitit's local executor."
    pytest.importorskip("submitit")
    nb = _toy_notebook(tmp_path / "nbs" / "toy.ipynb", body=LOGGED)
    out, log = tmp_path / "runs", tmp_path / "x.log"
    r = subprocess.run([str(venv_bin / "fairkd"), "sweep", str(nb), "--seeds", "0,1", "--launcher", "submitit-local",
                        "--cluster", "timeout_min=10", "--out-dir", str(out)],
                       env={**os.environ, "TOY_LOG": str(log)}, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "submitted 2 jobs" in r.stderr and set(_statuses(out).values()) == {"done"} and len(_statuses(out)) == 2
    assert sorted(_executions(log)) == ["0 adaptive", "1 adaptive"]
    assert any((out / "_submitit").iterdir())

# --- the report ------------------------------------------------------------------------------------------------

class _Imgs(html.parser.HTMLParser):
    def __init__(self): super().__init__(); self.srcs, self.tables = [], 0
    def handle_starttag(self, tag, attrs):
        if tag == "img": self.srcs.append(dict(attrs)["src"])
        if tag == "table": self.tables += 1

def _fake_runs(root: Path):
    import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
    from fairkd_nb.core import RunDir
    for s in (0, 1, 2):
        r = RunDir("toym", f"seed{s}", root=root); r.save_params({"seed": s})
        fig, ax = plt.subplots(figsize=(3, 2)); ax.bar(["A", "B"], [0.8, 0.6 + 0.05 * s]); r.save_fig(fig, "groups"); plt.close(fig)
        r.save_metrics({"acc": 0.7})
        r.save_report([{"setting": "KD", "seed": s, "acc": 70 + s, "gap": 10.0}, {"setting": "fair KD", "seed": s, "acc": 69.0, "gap": 5.0}],
                      {"acc": "accuracy (%)", "gap": "EO gap (%)"}, figures=["groups"], title="Toy method",
                      claims=[{"claim": "fair KD halves the gap", "paper": "-50%", "measured": "5 vs 10", "reproduced": True}])

def test_report_files_and_embedded_figures(tmp_path, venv_bin):
    _fake_runs(tmp_path / "runs")
    r = subprocess.run([str(venv_bin / "fairkd"), "report", str(tmp_path / "runs")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "| KD | 71.00 ± 1.00 (n=3) | 10.00 ± 0.00 (n=3) |" in r.stdout, r.stdout       # mean ± sd over the three runs' seeds
    assert "✔ reproduced" in r.stdout
    page = (tmp_path / "runs/report.html").read_text()
    p = _Imgs(); p.feed(page)
    assert p.tables >= 3 and len(p.srcs) == 3                                   # each run's key figure
    from PIL import Image
    for src in p.srcs:
        assert src.startswith("data:image/png;base64,")                          # self-contained: no file links
        im = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))); assert im.size[0] > 100
    import pandas as pd
    csv = pd.read_csv(tmp_path / "runs/report.csv")
    row = csv[(csv.setting == "KD") & (csv.metric == "accuracy (%)")].iloc[0]
    assert row["mean"] == pytest.approx(71.0) and row["sd"] == pytest.approx(1.0) and row["n"] == 3

def test_report_in_headless_chromium(tmp_path):
    "Where Chromium is installed: the page renders with its figures visible (a screenshot that is not blank)."
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium: pytest.skip("chromium not installed (apt-get install chromium; `make test-browser` does it)")
    _fake_runs(tmp_path / "runs"); report(tmp_path / "runs")
    shot = tmp_path / "report.png"
    subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}", "--window-size=1200,1600",
                    (tmp_path / "runs/report.html").as_uri()], capture_output=True, timeout=120)
    from PIL import Image
    import numpy as np
    a = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    colored = ((a.max(axis=2) - a.min(axis=2)) > 60).mean()                  # the bar charts' colours, not just text
    assert colored > 0.005, colored

# --- the main job on a stand-in repository ---------------------------------------------------------------------

def test_bench_runs_every_demo_notebook_and_resumes(tmp_path):
    repo = tmp_path / "repo"; (repo / "nbs").mkdir(parents=True); (repo / "pyproject.toml").write_text("[project]\n")
    body = ("run.save_report([{'setting': 'student', 'seed': seed, 'acc': 0.6 + 0.1 * (preset == 'demo')}], {'acc': 'accuracy'},"
            " title=%r)\n")
    for name in ("m1", "m2"):
        _toy_notebook(repo / "nbs" / f"{name}.ipynb", body=body % name,
                      params="preset: str = 'auto'  # smoke | demo | course; auto: smoke under tests\n")
    _toy_notebook(repo / "nbs" / "nodemo.ipynb", params="preset: str = 'auto'  # smoke | course\n")
    out = tmp_path / "bench"
    rep = bench(root=repo, out_dir=out, workers=2)
    md = rep["md"].read_text()
    assert "## m1" in md and "## m2" in md and "nodemo" not in md and "| student | 0.700 (n=1) |" in md, md
    assert sorted(p.parent.parent.name for p in out.glob("*/pt-*/status.json")) == ["m1", "m2"]
    mtimes = {p: p.stat().st_mtime for p in out.glob("*/pt-*/metrics.json")}
    bench(root=repo, out_dir=out)                                              # finished notebooks are not rerun
    assert {p: p.stat().st_mtime for p in out.glob("*/pt-*/metrics.json")} == mtimes

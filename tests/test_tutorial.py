"""Tutorial nbs/tutorials/bias_in_kd.ipynb: a papermill smoke run (experiment cache with the grid's and the temperature
study's entries, figures, metrics.json, report.json), a rerun with the same run_id that trains nothing, a rerun with
other settings that is refused, and the explorer redrawing from the cache alone when the imbalance moves."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from nbrun import papermill

from fairkd_nb.tutorial import (MODELS, CELLS, ExperimentCache, bias_explorer, temperature_explorer, cell_name, entry_key,
                                setting_figure)

GRID = [(q, r) for q in (0.5, 0.9) for r in (0.5, 0.9)]       # smoke: imbalance {0.5, 0.9} x rho {0.5, 0.9}
TEMPS, SEEDS_T, T0 = (1.0, 2.0, 4.0, 8.0), (0, 1), 4.0


def _outputs(nb_path):
    nb = json.loads(Path(nb_path).read_text())
    return [(c, o) for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]


def _text(nb_path) -> str:
    return "".join("".join(o["text"]) if o.get("output_type") == "stream" else "" for _, o in _outputs(nb_path))


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    "One smoke run of the tutorial (run_id 't1'); returns (tmp folder, run folder)."
    tmp = tmp_path_factory.mktemp("tutorial")
    r = papermill("tutorials/bias_in_kd", ["-p", "run_id", "t1"], tmp / "runs", tmp / "out.ipynb")
    assert r.returncode == 0, r.stderr[-3000:]
    return tmp, tmp / "runs" / "bias_in_kd" / "t1"


def test_cache_figures_and_metrics(smoke):
    tmp, run = smoke
    d = json.loads((run / "experiments.json").read_text())
    n_test = len(d["test"]["y"])
    assert n_test == len(d["test"]["s"]) == d["settings"]["n_test"] and set(d["test"]["s"]) == {0, 1}
    want = {entry_key(m, q, r, 0, None if m in ("teacher", "student") else T0) for q, r in GRID for m in MODELS}
    want |= {entry_key(m, 0.5, 0.9, sd, None) for sd in SEEDS_T for m in ("teacher", "student")}
    want |= {entry_key("kd", 0.5, 0.9, sd, T) for sd in SEEDS_T for T in TEMPS}
    assert set(d["entries"]) == want                                   # the whole grid and study, nothing else
    for k, e in d["entries"].items():
        assert len(e["scores"]) == n_test and all(0.0 <= v <= 1.0 for v in e["scores"]), k
        m = e["metrics"]
        for key in ("accuracy", "acc/M", "acc/F", "worst_group_acc", "dp_gap", "eo_max", *(f"acc/{cell_name(*c)}" for c in CELLS)):
            assert 0.0 <= m[key] <= 1.0, (k, key)
        yhat = np.asarray(e["scores"]) >= 0.5                             # the metrics are those of the stored scores
        assert abs(m["accuracy"] - float((yhat == np.asarray(d["test"]["y"])).mean())) < 1e-9, k
    for f in ("grid_summary", "temperature_gaps", "explorer_default", "explorer_most_biased",
              "softmax_temperature", "synthfaces_cells"):
        assert (run / "figures" / f"{f}.png").stat().st_size > 5000, f
    met = json.loads((run / "metrics.json").read_text())
    for T in TEMPS:
        for key in ("dp_gap", "eo_max", "acc/M", "acc/F"):
            assert met[f"temperature/KD_T={T:g}/{key}/n"] == len(SEEDS_T)
            assert met[f"temperature/KD_T={T:g}/{key}/sd"] is not None
    assert "grid/imb=0.90,rho=0.50/kd_eo/eo_max" in met and met["n_entries"] == len(want)
    rep = json.loads((run / "report.json").read_text())
    assert rep["claims"] and rep["claims"][0]["reproduced"] in (True, False, None)
    assert {r["setting"] for r in rep["rows"]} >= {f"KD T={T:g} (imb 50%, ρ 0.9)" for T in TEMPS}
    params = json.loads((run / "params.json").read_text())
    assert params["preset_resolved"] == "smoke" and params["temperatures_resolved"] == list(TEMPS)


def test_static_explorer_pictures_in_the_executed_notebook(smoke):
    "Without a front end, each explorer's output carries the widget view and a PNG of its default figure."
    tmp, _ = smoke
    bundles = [o["data"] for _, o in _outputs(tmp / "out.ipynb") if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(bundles) == 3 and all(len(b.get("image/png", "")) > 5000 for b in bundles)
    default, biased, temp = (b["image/png"] for b in bundles)
    assert len({default, biased, temp}) == 3


def test_rerun_loads_the_cache_and_refuses_other_settings(smoke, tmp_path):
    tmp, run = smoke
    runs = tmp_path / "runs"
    shutil.copytree(run.parent.parent, runs)
    before = (runs / "bias_in_kd" / "t1" / "experiments.json").read_bytes()
    r = papermill("tutorials/bias_in_kd", ["-p", "run_id", "t1"], runs, tmp_path / "again.ipynb")
    assert r.returncode == 0, r.stderr[-3000:]
    text = _text(tmp_path / "again.ipynb")
    n_all = len(json.loads(before)["entries"])
    assert f"grid: 4 settings, 0 models trained now, {n_all} entries cached" in text       # nothing retrained
    assert "; 0 models trained now" in text.split("temperature study:")[1]
    assert json.loads((runs / "bias_in_kd" / "t1" / "experiments.json").read_bytes()) == json.loads(before)
    r = papermill("tutorials/bias_in_kd", ["-p", "run_id", "t1", "-p", "lambda_eo", "2.0"], runs, tmp_path / "other.ipynb")
    assert r.returncode != 0 and "other settings" in r.stderr and "lambda_eo" in r.stderr


def test_explorer_redraws_from_the_cache_alone(smoke, tmp_path):
    "Moving the imbalance slider redraws the figure of the new setting, with no checkpoint or teacher output around."
    _, run = smoke
    shutil.copy(run / "experiments.json", tmp_path / "experiments.json")     # the cache file only
    store = ExperimentCache(tmp_path / "experiments.json")
    ui = bias_explorer(store, seed=0)
    slider = ui.children[0]                                                    # the explorer's first control
    assert slider.description == "imbalance" and type(slider).__name__ in ("SelectionSlider", "IntSlider")
    assert "fairkd-explorer" in ui._dom_classes and ui.controls["imbalance"] is slider
    assert [v for _, v in slider.options] == [0.5, 0.9] and ui.controls["correlation"].value == 0.5
    png0 = ui.output.outputs[0]["data"]["image/png"]
    slider.value = 0.9
    png1 = ui.output.outputs[0]["data"]["image/png"]
    assert png1 != png0 and ui.state["imbalance"] == 0.9 and ui.state["model"] == "kd"
    bars = [p.get_height() for p in ui.state["figure"].axes[0].patches[:len(CELLS)]]   # the figure shows the new entry
    m = store[entry_key("kd", 0.9, 0.5, 0, T0)]["metrics"]
    assert bars == pytest.approx([m[f"acc/{cell_name(*c)}"] for c in CELLS])
    ui.controls["model"].value = "teacher"
    assert ui.output.outputs[0]["data"]["image/png"] not in (png0, png1) and ui.state["model"] == "teacher"
    ui.controls["correlation"].value = 0.9
    assert ui.state["correlation"] == 0.9 and ui.state["png"] is not None
    slider.value = 0.5; ui.controls["correlation"].value = 0.5; ui.controls["model"].value = "kd"
    assert ui.output.outputs[0]["data"]["image/png"] == png0                    # deterministic: same view, same picture
    t = temperature_explorer(store, 0.5, 0.9, seed=0)
    assert t.children[0].description == "temperature" and t.state["temperature"] == T0
    p = t.state["png"]; t.controls["temperature"].value = 1.0
    assert t.state["png"] != p and t.state["temperature"] == 1.0
    t.controls["seed"].value = 1
    assert t.state["seed"] == 1 and t.state["png"] is not None
    with pytest.raises(KeyError):
        setting_figure(store, "kd", 0.7, 0.5, 0)                               # not in the cache: nothing is trained

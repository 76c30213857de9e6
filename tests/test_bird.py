"""BIRD: the notebook rerun with papermill (smoke), refusal of bad parameters, and a bit-identical kill-and-resume of the
BIRD distiller (two optimisers, the val_meta stream, loss keys that change at epoch `later`)."""
import glob, json, os, subprocess, sys
from pathlib import Path
from nbrun import papermill, check_report

import pandas as pd
import pytest
import torch

from fairkd_nb.core import seed_everything, load_tensors
from fairkd_nb.models import build_model
from fairkd_nb.train import fit, ToyData, StopTraining
from fairkd_nb.methods.bird import BIRD, METHODS, fairness_evaluator, parse_methods

torch.set_num_threads(1)


def _check_report(run: Path, n_rows_min: int = 1) -> dict: return check_report(run, n_rows_min=n_rows_min)


def _papermill(args, out_dir, tmp_path):
    return papermill("bird", args, out_dir, tmp_path / "out.ipynb")


def test_papermill_smoke_every_method(tmp_path):
    "`papermill nbs/bird.ipynb out.ipynb -p method all` (smoke preset under tests) writes a complete run folder."
    r = _papermill(["-p", "method", "all"], tmp_path / "runs", tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    [mfile] = glob.glob(str(tmp_path / "runs/bird/*/metrics.json"))
    m, run = json.loads(Path(mfile).read_text()), Path(mfile).parent
    for meth in METHODS:
        for ck in ("best", "last"):
            assert 0.0 <= m[f"{meth}/{ck}/accuracy/mean"] <= 1.0, (meth, ck)
            for k in ("auroc", "dp_gap", "eo_mean", "eo_max", "eopp_gap", "worst_group_acc"):
                assert f"{meth}/{ck}/{k}/mean" in m, (meth, ck, k)
            assert m[f"{meth}/{ck}/accuracy/n"] == 1 and m[f"{meth}/{ck}/accuracy/sd"] is None   # one seed: no spread
    assert {"claim/best", "claim/last", "seed0/teacher_val_acc", "total_time_s"} <= set(m)
    params = json.loads((run / "params.json").read_text())
    assert params["preset_resolved"] == "smoke" and params["methods"] == list(METHODS)
    for fig in ("accuracy_vs_eo", "gate"):
        assert (run / "figures" / f"{fig}.png").stat().st_size > 1000
    res = pd.read_csv(run / "results.csv")
    assert len(res) == len(METHODS) * 2 and set(res.checkpoint) == {"best", "last"}
    assert (run / "teacher-s0" / "checkpoints" / "teacher.safetensors").exists()
    h = pd.read_csv(run / "bird-s0" / "history.csv")                          # later = 1 under smoke
    assert h["train/loss_meta"].isna().tolist() == [True, False]
    assert abs(h["gate/mean"][0] - 0.7310585786) < 1e-6 and abs(h["gate/mean"][1] - 0.7310585786) > 1e-6
    assert h["val_auroc"].notna().all()
    rep = _check_report(run, n_rows_min=len(METHODS))                       # one row per method (one seed, best checkpoint)
    assert {r["setting"] for r in rep["rows"]} >= {"BIRD", "BKD"} and {"accuracy", "eo_max", "dp_gap"} <= set(rep["metrics"])
    assert len(rep["claims"]) == 2 and all(c["reproduced"] is None for c in rep["claims"])   # one seed: not judged
    assert set(rep["figures"]) == {"accuracy_vs_eo.png", "gate.png"}


def test_papermill_refuses_bad_parameters(tmp_path):
    r = _papermill(["-p", "method", "birdd"], tmp_path / "runs", tmp_path)
    assert r.returncode != 0 and "Did you mean 'bird'" in r.stderr
    assert "vanilla, bkd, fitnet, at, ad, mfd, bird" in r.stderr                  # the choices are named
    assert not glob.glob(str(tmp_path / "runs/bird/*/*-s0/checkpoints/*"))        # nothing was trained
    r = _papermill(["-p", "methd", "bird"], tmp_path / "runs", tmp_path)
    assert r.returncode != 0 and "did you mean 'method'" in r.stderr
    r = _papermill(["-p", "dataset", "celeba"], tmp_path / "runs", tmp_path)
    assert r.returncode != 0 and "needs data_root" in r.stderr


def test_parse_methods():
    assert parse_methods("all") == list(METHODS)
    with pytest.raises(ValueError, match="Did you mean 'mfd'"): parse_methods("mdf")


class Crash:
    "Raise in the middle of epoch `epoch` (a killed process)."
    def __init__(self, epoch): self.epoch = epoch
    def on_step_end(self, tr, losses):
        if tr.epoch == self.epoch and tr.global_step % tr.distiller.steps_per_epoch == 2:
            raise KeyboardInterrupt("killed")


CFG = dict(epochs=3, batch_size=16, optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=5e-4, schedule="multistep",
           milestones=(2,), device="cpu", progress=False, monitor="val_auroc", tie_breakers=("val_acc:max",))


def _run_bird(run, resume=False, callbacks=()):
    seed_everything(0)
    t = build_model("cnn", n_classes=2, width=0.25, n_blocks=2).eval()
    s = build_model("cnn", n_classes=2, width=0.25, n_blocks=2)
    d = BIRD(t, s, meta_data=ToyData(40, classes=2, size=16, seed=5), meta_batch=8, later=1, lambda_f=0.2)
    r = fit(d, ToyData(96, classes=2, size=16), CFG, evaluate=fairness_evaluator(ToyData(48, classes=2, size=16, seed=1)),
            run=run, resume=resume, callbacks=callbacks)
    return d, r


@pytest.mark.parametrize("kill_epoch", [1, 2])
def test_bird_kill_and_resume_bit_identical(tmp_path, kill_epoch):
    d_full, r_full = _run_bird(tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        _run_bird(tmp_path / "cut", callbacks=[Crash(kill_epoch)])
    assert load_tensors(tmp_path / "cut/checkpoints/last.safetensors")[1]["epoch"] == kill_epoch - 1
    d_res, r_res = _run_bird(tmp_path / "cut", resume=True)
    full, res = d_full.checkpoint_state_dict(), d_res.checkpoint_state_dict()
    assert "gate.p" in full and not torch.equal(full["gate.p"], torch.ones_like(full["gate.p"]))
    for k, v in full.items(): assert torch.equal(v, res[k]), k                   # student, BN statistics and the gate
    for name in ("main", "meta"):
        a, b = d_full.optimizers[name].state_dict(), d_res.optimizers[name].state_dict()
        assert a["param_groups"] == b["param_groups"], name
        assert a["state"].keys() == b["state"].keys() and a["state"], name
        for i in a["state"]:
            for n, t in a["state"][i].items(): assert torch.equal(t, b["state"][i][n]), (name, i, n)
    assert d_full.streams["meta"].state_dict() == d_res.streams["meta"].state_dict()
    strip = lambda h: [{k: v for k, v in r.items() if k != "time_s"} for r in h]
    assert strip(r_res.history) == strip(r_full.history)
    assert (r_res.best, r_res.best_epoch) == (r_full.best, r_full.best_epoch)
    assert "train/loss_meta" not in r_full.history[0] and "train/loss_meta" in r_full.history[1]
    assert r_full.history[0]["gate/mean"] == pytest.approx(0.7310585786, abs=1e-7)
    for ck in ("best", "last"):
        assert (tmp_path / "cut/checkpoints" / f"{ck}.safetensors").exists()


def test_validate_overrides_names_allowed_values():
    "The choices in the parameters cell's help are enforced before any kernel starts (`fairkd run`)."
    from fairkd_nb.core import validate_overrides, ParamError
    nb = Path(__file__).resolve().parents[1] / "nbs" / "bird.ipynb"
    with pytest.raises(ParamError, match=r"resnet18 \| resnet34 \| shufflenet_v2") as e:
        validate_overrides(nb, {"arch": "resnet19"})
    assert "'resnet19'" in str(e.value) and "Did you mean 'resnet18'" in str(e.value)
    with pytest.raises(ParamError, match="comma-separated"): validate_overrides(nb, {"method": "bird,bkdd"})
    with pytest.raises(ParamError, match="demo"): validate_overrides(nb, {"preset": "dmeo"})
    assert validate_overrides(nb, {"method": "bird,bkd", "arch": "resnet34", "preset": "demo"})["arch"] == "resnet34"

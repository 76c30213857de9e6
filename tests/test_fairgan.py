"""FairGAN: the notebook rerun with papermill, refused parameters, and an exact kill-and-resume of the D/G distiller."""
import glob, json, os, subprocess, sys
from pathlib import Path
from nbrun import papermill, check_report

import numpy as np
import pytest
import torch

from fairkd_nb.core import seed_everything, load_tensors
from fairkd_nb.cache import GeneratorTeacher, LatentData
from fairkd_nb.train import fit, TrainConfig
from fairkd_nb.methods.fairgan import (FairGANDistiller, StudentGenerator, FeatureDiscriminator, ToyAttributeNet,
                                       ProceduralTeacher, PairDataset, probe_evaluator, to_uint8, from_uint8)


def _check_report(run: Path, n_rows_min: int = 1) -> dict: return check_report(run, n_rows_min=n_rows_min)



def _papermill(args, out_dir, tmp_path):
    return papermill("fairgan", args, out_dir, tmp_path / "out.ipynb")


def test_papermill_smoke_run_writes_metrics_figures_checkpoints(tmp_path):
    r = _papermill(["-p", "balance", "race4_gender", "-p", "lambda_fair", "0.3"], tmp_path / "runs", tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    [mfile] = glob.glob(str(tmp_path / "runs/fairgan/*/metrics.json"))
    run = Path(mfile).parent
    m = json.loads(Path(mfile).read_text())
    params = json.loads((run / "params.json").read_text())
    assert params["preset_resolved"] == "smoke" and params["balance"] == "race4_gender" and params["lambda_fair"] == 0.3
    assert set(params["variants"]) == {"student", "student_nofair", "student_nobal", "student_nobal_nofair"}
    for src in ("teacher", "pool_race4_gender", "student", "student_nofair", "student_nobal", "student_nobal_nofair"):
        assert 0.0 <= m[f"{src}/group/ne/mean"] <= 1.0 + 1e-9, src
        assert m[f"{src}/group/ne/n"] == 1 and m[f"{src}/group/ne/sd"] is None       # one seed: no spread measured
    for s in ("student", "student_nofair"):
        assert m[f"{s}/group/paired_l1/mean"] > 0 and f"{s}/group/drift/mean" in m
    assert m["val_acc/group"] > 0.3 and m["n_seeds"] == 1
    for fig in ("bars_group", "bars_gender", "bars_age", "bars_all", "heat_group_age", "heat_group_gender",
                "grid_same_z", "curves"):
        assert (run / "figures" / f"{fig}.png").stat().st_size > 1000, fig
    ck = run / "seed0" / "student" / "checkpoints" / "last.safetensors"
    sd, meta = load_tensors(ck)
    assert any(k.startswith("disc.") for k in sd) and any(k.startswith("student.") for k in sd)
    assert not any(k.startswith("teachers.") for k in sd)                          # the classifier is never checkpointed
    sampler = json.loads((run / "seed0" / "sampler.json").read_text())
    assert sampler["race4_gender"]["cell_by"] == ["group", "gender"]
    labels = (run / "seed0" / "teacher_labels.csv").read_text().splitlines()[0].split(",")
    assert {"id", "source", "detected", "n_faces", "group", "p_group_0", "p_gender_1"} <= set(labels)
    rep = _check_report(run, n_rows_min=6)                                  # teacher, pool, four students
    assert {"ne", "ne_gender", "ne_age", "paired_l1"} <= set(rep["metrics"])
    assert len({r["setting"] for r in rep["rows"]}) == 6
    assert len(rep["claims"]) == 4 and all(c["reproduced"] is None for c in rep["claims"])   # one seed: not judged


def test_papermill_refuses_bad_balance_and_missing_teacher(tmp_path):
    r = _papermill(["-p", "balance", "race"], tmp_path / "runs", tmp_path)
    assert r.returncode != 0 and "balance='race'" in r.stderr and "('none', 'race4', 'race4_gender')" in r.stderr
    r = _papermill(["-p", "teacher", str(tmp_path / "nope.safetensors")], tmp_path / "runs", tmp_path)
    assert r.returncode != 0 and "no such generator file" in r.stderr and "nope.safetensors" in r.stderr
    r = _papermill(["-p", "lambda_fiar", "0.1"], tmp_path / "runs", tmp_path)
    assert r.returncode != 0 and "did you mean 'lambda_fair'" in r.stderr
    assert not glob.glob(str(tmp_path / "runs/fairgan/*/stages"))                  # nothing was trained


# --- exact resume of the two-optimiser D/G distiller ----------------------------------------------------------------
class Crash:
    "Raise in the middle of epoch `epoch` (simulates a killed process)."
    def __init__(self, epoch): self.epoch = epoch
    def on_step_end(self, tr, losses):
        if tr.epoch == self.epoch and tr.global_step % tr.distiller.steps_per_epoch == 2:
            raise KeyboardInterrupt("killed")


def _pairs():
    pt = ProceduralTeacher(16)
    z, x = GeneratorTeacher(pt, pt.z_dim).sample(80, seed=0)
    return pt.z_dim, PairDataset(z, to_uint8(x), ids=np.arange(64), size=16), z[64:], from_uint8(to_uint8(x[64:]))


def _run(run, resume=False, callbacks=()):
    z_dim, data, vz, vx = _pairs()
    seed_everything(0)
    clf = ToyAttributeNet(width=4).eval()
    d = FairGANDistiller(StudentGenerator(z_dim, 16, 4), FeatureDiscriminator(16, 4), clf, lambda_fair=0.5,
                         d_overrides=dict(lr=2e-3))
    cfg = TrainConfig(epochs=4, batch_size=16, optimizer="adam", lr=1e-3, betas=(0.0, 0.9), weight_decay=1e-4,
                      schedule="cosine", seed=3, device="cpu", monitor="val_l1", monitor_mode="min", progress=False)
    ev = probe_evaluator(clf, LatentData(16, z_dim, 7).z, vz, vx)
    r = fit(d, data, cfg, evaluate=ev, run=run, resume=resume, callbacks=callbacks)
    return d, r


@pytest.mark.parametrize("kill_epoch", [1, 2])
def test_resume_gan_distiller_bit_identical(tmp_path, kill_epoch):
    d_full, r_full = _run(tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut", callbacks=[Crash(kill_epoch)])
    assert load_tensors(tmp_path / "cut/checkpoints/last.safetensors")[1]["epoch"] == kill_epoch - 1
    d_res, r_res = _run(tmp_path / "cut", resume=True)
    for k, v in d_full.checkpoint_state_dict().items():          # G, D (incl. spectral-norm u/v), BN statistics
        assert torch.equal(v, d_res.checkpoint_state_dict()[k]), k
    for name in ("g", "d"):
        a, b = d_full.optimizers[name].state_dict(), d_res.optimizers[name].state_dict()
        assert a["param_groups"] == b["param_groups"], name
        for i in a["state"]:
            for n, t in a["state"][i].items(): assert torch.equal(t, b["state"][i][n]), (name, i, n)
    strip = lambda h: [{k: v for k, v in r.items() if k != "time_s"} for r in h]
    assert strip(r_res.history) == strip(r_full.history)
    assert (r_res.best, r_res.best_epoch) == (r_full.best, r_full.best_epoch)
    # the loss keys of both halves are logged; the fairness term only once its weight is positive (epoch >= 1)
    assert "train/loss_d" in r_full.history[0] and "train/loss_fair" not in r_full.history[0]
    assert "train/loss_fair" in r_full.history[2] and r_full.history[2]["lr/d"] != r_full.history[2]["lr"]


def test_validate_overrides_names_allowed_values():
    "The choices in the parameters cell's help are enforced before any kernel starts (`fairkd run`)."
    from fairkd_nb.core import validate_overrides, ParamError
    nb = Path(__file__).resolve().parents[1] / "nbs" / "fairgan.ipynb"
    with pytest.raises(ParamError, match=r"none \| race4 \| race4_gender") as e:
        validate_overrides(nb, {"balance": "race5"})
    assert "'race5'" in str(e.value)
    with pytest.raises(ParamError, match=r"32 \| 64"): validate_overrides(nb, {"size": 48})
    assert validate_overrides(nb, {"balance": "none", "size": 64, "preset": "demo", "teacher": "/any/path.py"})["size"] == 64

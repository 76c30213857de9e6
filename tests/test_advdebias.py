"""advdebias: papermill rerun (smoke), refusal of bad parameters, exact kill-and-resume of a debiased CTKD student
(three optimisers), λ = 0 ≡ the plain framework through `fit`, and the critic option end to end."""
import glob, json, os, subprocess, sys
from pathlib import Path
from nbrun import papermill, check_report

import pytest
import torch

from fairkd_nb.core import load_tensors, seed_everything
from fairkd_nb.models import build_model
from fairkd_nb.train import TrainConfig, ToyData, fit
from fairkd_nb.methods.advdebias import (build_advdebias, advdebias_evaluator, advdebias_config, advdebias_data, run_seed,
                                         results_table, summarise)


def _check_report(run: Path, n_rows_min: int = 1) -> dict: return check_report(run, n_rows_min=n_rows_min)



def _papermill(args, out_dir, tmp_path):
    return papermill("advdebias", args, out_dir, tmp_path / "out.ipynb")


def test_papermill_smoke_rerun(tmp_path):
    "`papermill nbs/advdebias.ipynb out.ipynb -p kd rkd -p adversary grl` (smoke preset under tests)."
    r = _papermill(["-p", "kd", "rkd", "-p", "adversary", "grl", "-p", "lam", "0.5"], tmp_path / "runs", tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    [mfile] = glob.glob(str(tmp_path / "runs/advdebias/*/metrics.json"))
    m = json.loads(Path(mfile).read_text())
    run = Path(mfile).parent
    for model in ("teacher", "vanilla", "rkd-grl-lam0", "rkd-grl-lam0.5"):
        for ck in ("best", "last"):
            assert 0.0 <= m[f"{model}/{ck}/accuracy/mean"] <= 1.0 and 0.0 <= m[f"{model}/{ck}/D/mean"] <= 1.0
            assert m[f"{model}/{ck}/D/sd"] is None and m[f"{model}/{ck}/n"] == 1       # one seed: no spread measured
    assert m["teacher/best/amplification/mean"] == 1.0
    assert 0.0 <= m["rkd-grl-lam0.5/best/val_adv_acc/mean"] <= 1.0
    params = json.loads((run / "params.json").read_text())
    assert params["preset_resolved"] == "smoke" and params["lams_resolved"] == [0.0, 0.5] and params["frameworks"] == ["rkd"]
    for fig in ("amplification", "acc_vs_disparity", "per_class_gaps", "training_curves"):
        assert (run / "figures" / f"{fig}.png").stat().st_size > 1000
    for name in ("teacher", "vanilla", "rkd-grl-lam0", "rkd-grl-lam0.5"):
        assert (run / f"{name}-s0" / "checkpoints" / "last.safetensors").exists()
    assert (run / "teacher-s0" / "checkpoints" / "teacher.safetensors").exists()
    assert {"seed", "model", "ckpt", "D", "D_study", "eo", "macro_f1", "amplification"} <= set(
        (run / "results.csv").read_text().splitlines()[0].split(","))
    rep = _check_report(run, n_rows_min=4)                                  # teacher, vanilla, RKD λ=0 and λ=0.5
    assert {"accuracy", "D", "amplification"} <= set(rep["metrics"])
    assert {r["setting"] for r in rep["rows"]} == {"teacher", "vanilla student (CE)", "RKD + grl λ=0", "RKD + grl λ=0.5"}
    assert [c["claim"][:2] for c in rep["claims"]] == ["T1", "T2", "T3"] and all(c["reproduced"] is None for c in rep["claims"])


def test_papermill_refuses_bad_parameters(tmp_path):
    r = _papermill(["-p", "kd", "rdk"], tmp_path / "runs", tmp_path)
    assert r.returncode != 0 and "kd='rdk' is not one of ckd, rkd, ctkd, kdpp, all" in r.stderr
    assert "Did you mean 'rkd'?" in r.stderr
    r = _papermill(["-p", "advesary", "grl"], tmp_path / "runs", tmp_path)
    assert r.returncode != 0 and "did you mean 'adversary'" in r.stderr
    r = _papermill(["-p", "dataset", "wider", "-p", "preset", "paper"], tmp_path / "runs", tmp_path)
    assert r.returncode != 0 and "needs data_root" in r.stderr
    assert not glob.glob(str(tmp_path / "runs/advdebias/*/*-s0/checkpoints/*"))     # nothing was trained


# --- kill and resume ---------------------------------------------------------------------------------------------------

class Crash:
    "Raise in the middle of epoch `epoch` (simulates a killed process)."
    def __init__(self, epoch): self.epoch = epoch
    def on_step_end(self, tr, losses):
        if tr.epoch == self.epoch and tr.global_step % tr.distiller.steps_per_epoch == 2:
            raise KeyboardInterrupt("killed")


def _debiased(kd="ctkd", lam=2.0, **kw):
    torch.manual_seed(2); teacher = build_model("cnn", n_classes=4, width=0.5, in_size=16).eval()
    torch.manual_seed(1); student = build_model("cnn", n_classes=4, width=0.25, in_size=16, dropout=0.3)
    return build_advdebias(teacher, student, kd=kd, lam=lam, **({"ramp_epochs": 2} if kd == "ctkd" else {}), **kw)


def _run(run, resume=False, callbacks=(), kd="ctkd", lam=2.0, epochs=4, **kw):
    seed_everything(0)
    d = _debiased(kd, lam, **kw)
    cfg = TrainConfig(epochs=epochs, batch_size=16, optimizer="adam", lr=3e-3, schedule="cosine", monitor="val_acc",
                      device="cpu", progress=False, seed=0)
    r = fit(d, ToyData(96, classes=4, size=16), cfg, evaluate=advdebias_evaluator(ToyData(48, classes=4, size=16, seed=1)),
            run=run, resume=resume, callbacks=callbacks)
    return d, r


def test_debiased_ctkd_resumes_bit_identically(tmp_path):
    "GRL adversary + CTKD temperature + student (with dropout): three optimisers, killed in epoch 2, resumed."
    d_full, r_full = _run(tmp_path / "full")
    assert set(d_full.optimizers) == {"main", "temperature", "adversary"}
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut", callbacks=[Crash(2)])
    assert load_tensors(tmp_path / "cut/checkpoints/last.safetensors")[1]["epoch"] == 1
    d_res, r_res = _run(tmp_path / "cut", resume=True)
    sd_full, sd_res = d_full.checkpoint_state_dict(), d_res.checkpoint_state_dict()
    assert {k.split(".")[0] for k in sd_full} >= {"student", "temperature", "adversary"}
    for k, v in sd_full.items(): assert torch.equal(v, sd_res[k]), k
    for name in d_full.optimizers:                        # Adam moments of every optimiser too
        a, b = d_full.optimizers[name].state_dict()["state"], d_res.optimizers[name].state_dict()["state"]
        for i in a:
            for key in a[i]: assert torch.equal(torch.as_tensor(a[i][key]), torch.as_tensor(b[i][key])), (name, i, key)
    assert r_res.final == {**r_full.final, "time_s": r_res.final["time_s"]}
    assert (r_res.best, r_res.best_epoch) == (r_full.best, r_full.best_epoch)
    h_full = (tmp_path / "full/history.csv").read_text().splitlines()
    h_cut = (tmp_path / "cut/history.csv").read_text().splitlines()
    header = h_full[0].split(",")
    assert {"T", "mu", "val_adv_acc", "train/loss_adv"} <= set(header) and len(h_cut) == len(h_full) == 5
    t = header.index("time_s")
    drop_time = lambda rows: [",".join(c for i, c in enumerate(r.split(",")) if i != t) for r in rows]
    assert drop_time(h_cut) == drop_time(h_full)


def test_lambda_zero_student_is_the_plain_student(tmp_path):
    "Through `fit`: the λ = 0 GRL student (adversary as a probe) ends bit-identical to the plain framework's."
    for kd in ("ckd", "kdpp"):
        extra = {"centers": torch.randn(4, 64)} if kd == "kdpp" else {}
        d0, _ = _run(None, kd=kd, lam=0.0, epochs=2, **extra)
        seed_everything(0)
        torch.manual_seed(2); teacher = build_model("cnn", n_classes=4, width=0.5, in_size=16).eval()
        torch.manual_seed(1); student = build_model("cnn", n_classes=4, width=0.25, in_size=16, dropout=0.3)
        dp = build_advdebias(teacher, student, kd=kd, adversary="none", **extra)
        fit(dp, ToyData(96, classes=4, size=16), TrainConfig(epochs=2, batch_size=16, optimizer="adam", lr=3e-3,
                                                             schedule="cosine", monitor="val_acc", device="cpu",
                                                             progress=False, seed=0),
            evaluate=advdebias_evaluator(ToyData(48, classes=4, size=16, seed=1)))   # the same RNG use as the λ = 0 run
        for (k, a), b in zip(d0.student.state_dict().items(), dp.student.state_dict().values()):
            assert torch.equal(a, b), (kd, k)


def test_critic_option_end_to_end(tmp_path):
    "run_seed with the critic multiplier on the smoke data: trains, logs m ≥ 1, evaluates best and last."
    torch.set_num_threads(1)
    cfg = {**advdebias_config("smoke"), "epochs": 1, "epochs_teacher": 1}
    data = advdebias_data(cfg, "synth", seed=0)
    out = run_seed(0, data, cfg, ["ckd"], "critic", [0.0, 1.0], tmp_path / "runs/advdebias/x", device="cpu")
    t = results_table(out["rows"])
    assert set(t.model) == {"teacher", "vanilla", "ckd-critic-lam0", "ckd-critic-lam1"} and set(t.ckpt) == {"best", "last"}
    h = out["history"]["ckd-critic-lam1"]
    assert (h["critic_m"] >= 1.0).all() and (out["history"]["ckd-critic-lam0"]["critic_m"] == 1.0).all()
    assert "train/loss_adv" in h.columns
    s = summarise(t)
    assert not s.collapse.any() or s[s.collapse].lam.gt(0).all()


def test_validate_overrides_names_allowed_values():
    "The choices in the parameters cell's help are enforced before any kernel starts (`fairkd run`)."
    from fairkd_nb.core import validate_overrides, ParamError
    nb = Path(__file__).resolve().parents[1] / "nbs" / "advdebias.ipynb"
    with pytest.raises(ParamError, match=r"ckd \| rkd \| ctkd \| kdpp \| all") as e:
        validate_overrides(nb, {"kd": "rkd,ctdk"})
    assert "'ctdk'" in str(e.value) and "comma-separated" in str(e.value)
    with pytest.raises(ParamError, match=r"none \| grl \| critic"): validate_overrides(nb, {"adversary": "gril"})
    with pytest.raises(ParamError, match=r"synth \| wider \| cifar100"): validate_overrides(nb, {"dataset": "celeba"})
    assert validate_overrides(nb, {"kd": "ckd,kdpp", "adv_input": "pooled", "preset": "demo"})["kd"] == "ckd,kdpp"

"""Exact resume and the NaN guard of `fairkd_nb.train.fit`."""
import os, subprocess, sys, json, hashlib
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from fairkd_nb.core import load_tensors, seed_everything
from fairkd_nb.train import (Supervised, KDDistiller, TrainConfig, ToyData, toy_model, fit, accuracy_evaluator,
                             NonFiniteError, StopTraining)

ENV = {**os.environ, "IN_TEST": "1", "OMP_NUM_THREADS": "1"}


def _dropout_model():
    # dropout consumes the torch RNG at every step: resume must restore the RNG streams to be exact
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Dropout(0.3), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Linear(32, 3))


class Crash:
    "Raise in the middle of epoch `epoch` (simulates a killed process)."
    def __init__(self, epoch): self.epoch = epoch
    def on_step_end(self, tr, losses):
        if tr.epoch == self.epoch and tr.global_step % tr.distiller.steps_per_epoch == 2:
            raise KeyboardInterrupt("killed")


def _run(run, resume=False, callbacks=(), epochs=4):
    seed_everything(0)
    d = KDDistiller(_dropout_model(), _dropout_model())
    cfg = TrainConfig(epochs=epochs, batch_size=16, optimizer="sgd", lr=0.05, schedule="multistep", milestones=(2,),
                      warmup_epochs=1, schedule_unit="step", monitor="val_acc", device="cpu", num_workers=0)
    r = fit(d, ToyData(96), cfg, evaluate=accuracy_evaluator(ToyData(48, seed=1)), run=run, resume=resume,
            callbacks=callbacks)
    return d, r


def test_resume_after_crash_is_bit_identical(tmp_path):
    d_full, r_full = _run(tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut", callbacks=[Crash(2)])
    assert load_tensors(tmp_path / "cut/checkpoints/last.safetensors")[1]["epoch"] == 1
    d_res, r_res = _run(tmp_path / "cut", resume=True)
    for k, v in d_full.checkpoint_state_dict().items():
        assert torch.equal(v, d_res.checkpoint_state_dict()[k]), k
    assert r_res.final == {**r_full.final, "time_s": r_res.final["time_s"]}
    assert (r_res.best, r_res.best_epoch) == (r_full.best, r_full.best_epoch)
    h_full = (tmp_path / "full/history.csv").read_text().splitlines()
    h_cut = (tmp_path / "cut/history.csv").read_text().splitlines()
    assert len(h_cut) == len(h_full) == 5
    drop_time = lambda rows: [",".join(c for i, c in enumerate(r.split(",")) if i != 3) for r in rows]
    assert drop_time(h_cut) == drop_time(h_full)          # same numbers, epoch by epoch


def test_resume_from_cli_stop_after(tmp_path):
    base = [sys.executable, "-m", "fairkd_nb.train", "demo", "--epochs", "3", "--n-samples", "96", "--optimizer", "adam",
            "--lr", "0.01"]
    run = lambda out, *extra: subprocess.run(base + ["--out", str(out), *extra], env=ENV, capture_output=True,
                                             text=True, timeout=120)
    from fairkd_nb.train import demo                      # the uninterrupted run, in this process,
    torch.set_num_threads(1)                              # with the CLI's thread count (bit-identical kernels)
    r_full = demo(epochs=3, n_samples=96, optimizer="adam", lr=0.01, out=str(tmp_path / "a"))
    part = run(tmp_path / "b", "--stop-after", "1"); assert part.returncode == 0, part.stderr
    assert json.loads(part.stdout.strip().splitlines()[-1])["epoch"] == 0
    rest = run(tmp_path / "b", "--resume"); assert rest.returncode == 0, rest.stderr
    wa, _ = load_tensors(tmp_path / "a/supervised/demo/checkpoints/last.safetensors")
    wb, _ = load_tensors(tmp_path / "b/supervised/demo/checkpoints/last.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    ma, mb = r_full.final, json.loads(rest.stdout.strip().splitlines()[-1])
    assert ma["val_acc"] == mb["val_acc"] and ma["train/loss"] == mb["train/loss"]


class NaNKD(KDDistiller):
    def forward_train(self, batch, epoch):
        out, l = super().forward_train(batch, epoch)
        if epoch == 2 and self.global_step % self.steps_per_epoch == 1: l["loss_kd"] = l["loss_kd"] * float("nan")
        return out, l


def test_nan_stops_with_term_name_and_keeps_checkpoint(tmp_path):
    seed_everything(0)
    d = NaNKD(toy_model(width=16), toy_model())
    cfg = TrainConfig(epochs=4, batch_size=32, lr=0.05, device="cpu", monitor="val_acc")
    ev = accuracy_evaluator(ToyData(32, seed=1))
    # first a clean epoch-0/1 run, then the failing epoch
    with pytest.raises(NonFiniteError, match=r"loss_kd=nan at epoch 2") as e:
        fit(d, ToyData(128), cfg, evaluate=ev, run=tmp_path / "r")
    assert "loss_ce" in str(e.value)                     # the finite terms are listed too
    ck = tmp_path / "r/checkpoints"
    sd, meta = load_tensors(ck / "last.safetensors")
    assert meta["epoch"] == 1
    assert all(bool(torch.isfinite(v).all()) for v in sd.values())
    # the NaN step was stopped before backward: the in-memory weights are still finite
    assert all(bool(torch.isfinite(p).all()) for p in d.student.parameters())


def test_nan_weights_never_saved(tmp_path):
    "A callback that poisons the weights: the checkpoint of that epoch is refused, the previous one kept."
    class Poison:
        def on_step_end(self, tr, losses):
            if tr.epoch == 1:
                with torch.no_grad(): tr.distiller.student[-1].bias.fill_(float("inf"))
    seed_everything(0)
    d = Supervised(toy_model())
    with pytest.raises(NonFiniteError):
        fit(d, ToyData(64), TrainConfig(epochs=3, batch_size=32, lr=0.05, device="cpu"), run=tmp_path / "p",
            callbacks=[Poison()])
    sd, meta = load_tensors(tmp_path / "p/checkpoints/last.safetensors")
    assert meta["epoch"] == 0 and all(bool(torch.isfinite(v).all()) for v in sd.values())


# --- exact resume with two optimisers, an auxiliary stream and varying loss keys ------------------------------------
from test_train_ddp import AdvWithMeta, ADV_CFG


def _run_adv(run, resume=False, callbacks=()):
    seed_everything(0)
    d = AdvWithMeta(_dropout_model())              # dropout: the RNG streams must be restored too
    r = fit(d, ToyData(96), ADV_CFG, evaluate=accuracy_evaluator(ToyData(48, seed=1)), run=run, resume=resume,
            callbacks=callbacks)
    return d, r


@pytest.mark.parametrize("kill_epoch", [1, 2])
def test_resume_two_optimisers_stream_varying_keys_bit_identical(tmp_path, kill_epoch):
    d_full, r_full = _run_adv(tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        _run_adv(tmp_path / "cut", callbacks=[Crash(kill_epoch)])
    d_res, r_res = _run_adv(tmp_path / "cut", resume=True)
    for k, v in d_full.checkpoint_state_dict().items():
        assert torch.equal(v, d_res.checkpoint_state_dict()[k]), k
    for name in ("main", "adv"):
        a, b = d_full.optimizers[name].state_dict(), d_res.optimizers[name].state_dict()
        assert a["param_groups"] == b["param_groups"], name
        for i in a["state"]:
            for n, t in a["state"][i].items(): assert torch.equal(t, b["state"][i][n]), (name, i, n)
    assert d_full.streams["meta"].state_dict() == d_res.streams["meta"].state_dict()
    strip = lambda h: [{k: v for k, v in r.items() if k != "time_s"} for r in h]
    assert strip(r_res.history) == strip(r_full.history)
    assert (r_res.best, r_res.best_epoch) == (r_full.best, r_full.best_epoch)
    assert "train/loss_meta" in r_full.history[2] and "train/loss_meta" not in r_full.history[0]


# --- exact resume for a model with an ElasticArcFace head: its margin generator is part of the checkpoint -----------
import torch.nn.functional as F
from fairkd_nb.heads import ElasticArcFace
from fairkd_nb.train import Distiller


class ElasticFaceNet(Distiller):
    "A toy backbone (8-d embedding) trained through an ElasticArcFace head: fresh random margins at every step."
    def __init__(self):
        super().__init__(toy_model(classes=8))
        self.head = ElasticArcFace(8, 3, s=16.0, m=0.3, sigma=0.2, seed=5)

    def forward(self, x): return self.head(self.student(x))

    def forward_train(self, batch, epoch):
        logits = self.head(self.student(batch["x"]), batch["y"])
        return logits, {"loss_ce": F.cross_entropy(logits, batch["y"])}


def _run_elastic(run, resume=False, callbacks=()):
    seed_everything(0)
    d = ElasticFaceNet()
    cfg = TrainConfig(epochs=4, batch_size=16, lr=0.05, monitor="val_acc", device="cpu")
    r = fit(d, ToyData(96), cfg, evaluate=accuracy_evaluator(ToyData(48, seed=1)), run=run, resume=resume,
            callbacks=callbacks)
    return d, r


def test_resume_elastic_arcface_bit_identical(tmp_path):
    d_full, r_full = _run_elastic(tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        _run_elastic(tmp_path / "cut", callbacks=[Crash(2)])
    d_res, r_res = _run_elastic(tmp_path / "cut", resume=True)
    full, res = d_full.checkpoint_state_dict(), d_res.checkpoint_state_dict()
    for k, v in full.items():
        assert torch.equal(v, res[k]), k                          # weights (and the generator) as if never killed
    assert torch.equal(d_full.head.last_margins, d_res.head.last_margins)
    assert "head._extra_state" in load_tensors(tmp_path / "cut/checkpoints/last.safetensors")[0]
    strip = lambda h: [{k: v for k, v in r.items() if k != "time_s"} for r in h]
    assert strip(r_res.history) == strip(r_full.history)

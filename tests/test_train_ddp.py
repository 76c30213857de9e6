"""Multi-process training matches single-process training with the same global batch (gloo on CPU).

Two launch paths are covered: `torchrun -m fairkd_nb.train demo` (command line) and `fairkd_nb.train.launch`
(forked workers, the notebook path). Models have no BatchNorm, so the only difference between the runs is the
floating-point order of the gradient average."""
import os, subprocess, sys, json
from pathlib import Path

import pytest
import torch

from fairkd_nb.core import load_tensors, seed_everything
from fairkd_nb.train import (KDDistiller, TrainConfig, ToyData, toy_model, fit, launch, accuracy_evaluator,
                             get_world_size, all_gather, is_main_process)

BIN = Path(sys.executable).parent
ENV = {**os.environ, "IN_TEST": "1", "OMP_NUM_THREADS": "1"}


def _cli(args, out, nproc=1):
    cmd = ([str(BIN / "torchrun"), "--standalone", f"--nproc_per_node={nproc}"] if nproc > 1 else [sys.executable])
    cmd += ["-m", "fairkd_nb.train", "demo", "--out", str(out)] + args
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_torchrun_two_processes_match_one(tmp_path):
    args = ["--epochs", "2", "--batch-size", "32", "--n-samples", "128", "--method", "kd"]
    m1 = _cli(args, tmp_path / "one")
    m2 = _cli(args, tmp_path / "two", nproc=2)
    w1, meta1 = load_tensors(tmp_path / "one/kd/demo/checkpoints/last.safetensors")
    w2, meta2 = load_tensors(tmp_path / "two/kd/demo/checkpoints/last.safetensors")
    assert meta1 == meta2 == {"epoch": 1, "global_step": 8}
    for k in w1:
        torch.testing.assert_close(w1[k], w2[k], rtol=1e-5, atol=1e-6)
    assert m1["val_acc"] == m2["val_acc"]
    for k in ("train/loss_ce", "train/loss_kd", "val_loss"):
        assert abs(m1[k] - m2[k]) <= 1e-5 * max(1.0, abs(m1[k])), (k, m1[k], m2[k])
    # only rank 0 wrote the history: one row per epoch
    assert (tmp_path / "two/kd/demo/history.csv").read_text().count("\n") == 3


def _train(world_hint, batch=32, optimizer="adam"):
    "Same training in any number of processes: KD with Adam, per-step cosine schedule and warm-up, clipping."
    seed_everything(0)
    d = KDDistiller(toy_model(width=16), toy_model())
    cfg = TrainConfig(epochs=2, batch_size=batch, optimizer=optimizer, lr=3e-3, schedule="cosine",
                      schedule_unit="step", warmup_epochs=0.5, grad_clip=1.0, device="cpu")
    r = fit(d, ToyData(128), cfg, evaluate=accuracy_evaluator(ToyData(64, seed=1)))
    # the all_gather helper: every rank sees the same concatenation
    g = all_gather(torch.tensor([float(get_world_size())]))
    return {k: v.clone() for k, v in d.checkpoint_state_dict().items()}, r.final, g.tolist()


def test_launch_two_processes_match_one():
    w1, f1, g1 = _train(1)
    w2, f2, g2 = launch(_train, 2, 2)
    assert g1 == [1.0] and g2 == [2.0, 2.0]
    for k in w1:
        torch.testing.assert_close(w1[k], w2[k], rtol=1e-5, atol=1e-6)
    assert f1["val_acc"] == f2["val_acc"]
    assert abs(f1["train/loss"] - f2["train/loss"]) < 1e-5


# --- a Distiller with two optimisers, an auxiliary stream and loss keys that change from step to step ------------
import torch.nn as nn
import torch.nn.functional as F
from fairkd_nb.train import Distiller, OptimGroup


class AdvWithMeta(Distiller):
    """Student + adversary on the student's logits predicting `s` (its own Adam, own schedule). Every third step is
    an adversary-only step (keys: loss_adv); the other steps train the student (loss_ce, loss_fair) and, from epoch 1
    on, add a term on a batch of the auxiliary `meta` stream (loss_meta)."""
    def __init__(self, student):
        super().__init__(student)
        self.adv = nn.Linear(3, 2)
        self.register_stream("meta", ToyData(40, seed=5), batch_size=8)

    def optimizer_groups(self, cfg):
        return {"main": OptimGroup(self.student),
                "adv": OptimGroup(self.adv, optimizer="adam", lr=1e-2, schedule="multistep", milestones=(1,), gamma=0.5,
                                  schedule_unit="epoch", warmup_epochs=0, grad_clip=None)}

    def train_step(self, batch, epoch):
        for o in self.optimizers.values(): o.zero_grad(set_to_none=True)
        if self.global_step % 3 == 2:
            with self.autocast():
                l = {"loss_adv": F.cross_entropy(self.adv(self.student(batch["x"]).detach()), batch["s"])}
            self.check_losses(l); l["loss_adv"].backward(); self.optimizer_step("adv")
            return {k: v.detach() for k, v in l.items()}
        with self.autocast():
            out = self.student(batch["x"])
            l = {"loss_ce": F.cross_entropy(out, batch["y"]), "loss_fair": -0.1 * F.cross_entropy(self.adv(out), batch["s"])}
            if epoch >= 1:
                mb = self.next_batch("meta")
                l["loss_meta"] = 0.5 * F.cross_entropy(self.student(mb["x"]), mb["y"])
        self.check_losses(l); sum(l.values()).backward(); self.optimizer_step("main")
        return {k: v.detach() for k, v in l.items()}


ADV_CFG = dict(epochs=3, batch_size=16, optimizer="sgd", lr=0.05, schedule="cosine", schedule_unit="step",
               warmup_epochs=0.5, grad_clip=1.0, device="cpu", progress=False, monitor="val_acc")


def _train_adv():
    seed_everything(0)
    d = AdvWithMeta(toy_model())
    r = fit(d, ToyData(96), ADV_CFG, evaluate=accuracy_evaluator(ToyData(48, seed=1)))
    opt = {k: o.state_dict()["state"] for k, o in d.optimizers.items()}
    return ({k: v.clone() for k, v in d.checkpoint_state_dict().items()}, r.history, d.streams["meta"].state_dict(),
            {k: {i: {n: t.clone() for n, t in s.items() if torch.is_tensor(t)} for i, s in st.items()} for k, st in opt.items()})


def test_two_optimisers_stream_varying_keys_two_processes_match_one():
    w1, h1, s1, o1 = _train_adv()
    w2, h2, s2, o2 = launch(_train_adv, 2)
    assert s1 == s2 == {"cycle": 1, "pos": 3}                    # 8 meta batches drawn, 5 per cycle
    for k in w1:
        torch.testing.assert_close(w1[k], w2[k], rtol=1e-5, atol=1e-6)
    for k in o1:                                                 # both optimisers' states (momentum, Adam moments)
        for i in o1[k]:
            for n in o1[k][i]: torch.testing.assert_close(o1[k][i][n], o2[k][i][n], rtol=1e-5, atol=1e-6)
    assert [sorted(r) for r in h1] == [sorted(r) for r in h2]
    assert "train/loss_meta" not in h1[0] and "train/loss_meta" in h1[1]     # keys change ...
    assert all(k in r for r in h1 for k in ("train/loss_ce", "train/loss_fair", "train/loss_adv", "lr/adv"))
    assert [r["lr/adv"] for r in h1] == [1e-2, 5e-3, 5e-3]                      # ... each optimiser its own schedule
    assert h1[0]["lr"] == 0.0 and h1[1]["lr"] != h1[2]["lr"]                   # main: warm-up then per-step cosine
    for a, b in zip(h1, h2):
        for k in a:
            if k.startswith(("train/", "val_")):
                assert abs(a[k] - b[k]) <= 1e-5 * max(1.0, abs(a[k])), (k, a[k], b[k])

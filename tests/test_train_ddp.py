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

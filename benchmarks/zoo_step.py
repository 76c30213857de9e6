"""A zoo Distiller's training step (DKD) vs the same step written by hand, side by side.

Both do the same work on the same batch: frozen teacher forward under no_grad, student forward, 1·CE + warm-up ·
(α·TCKD + β·NCKD) from `fairkd_nb.losses.dkd_loss`, backward, one SGD step. The zoo step is
`build_distiller("dkd", teacher, student).train_step(batch, epoch)` after `prepare` — so it also pays for what the engine
adds to every step: the teacher's precision context, the finiteness check of the loss terms (one host sync), the
gradient-norm check of each optimiser (`check_grads=True`, the default) and the per-optimiser loop. The hand step is the
plain PyTorch loop, timed twice (`hand`, `hand_again`: a null control whose ratio shows the measurement noise). Steps
are interleaved with the order rotated every repeat, so that machine load and position affect all alike. We report
medians over the repeats and the ratio of the zoo's median to the median of both hand copies (target ≤ 1.05), the
median of per-repeat ratios, and a variant with `check_grads=False` to show what the gradient-norm check costs.
Both start from identical weights, and the first step's losses must be bit-identical.

    python benchmarks/zoo_step.py [--repeats 21] [--threads 2] [--device cpu|cuda] [--out benchmarks/zoo_step.json]
"""
import argparse, copy, os, platform, statistics, time
from pathlib import Path

import torch
import torch.nn.functional as F

from fairkd_nb.core import seed_everything, get_device, atomic_write_json, atomic_write_text
from fairkd_nb.models import build_model
from fairkd_nb.losses import dkd_loss, dkd_warmup
from fairkd_nb.train import TrainConfig
from fairkd_nb.distillers import build_distiller

DKD = dict(alpha=1.0, beta=8.0, T=4.0, warmup_epochs=20.0)


def hand_step(student, teacher, opt, batch, epoch):
    "The DKD step written by hand (what a user would write without the kit's trainer)."
    x, y = batch["x"], batch["y"]
    opt.zero_grad(set_to_none=True)
    with torch.no_grad(): lt = teacher(x)
    out = student(x)
    losses = {"loss_ce": F.cross_entropy(out.float(), y),
              "loss_kd": dkd_warmup(epoch + 1, DKD["warmup_epochs"]) * dkd_loss(out, lt, y, DKD["alpha"], DKD["beta"], DKD["T"])}
    sum(losses.values()).backward()
    opt.step()
    return {k: v.detach() for k, v in losses.items()}


def sync(dev):
    if dev.type == "cuda": torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=21); ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64); ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--t-width", type=float, default=0.5); ap.add_argument("--s-width", type=float, default=0.25)
    ap.add_argument("--threads", type=int, default=2); ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(Path(__file__).with_name("zoo_step.json")))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = get_device(a.device)
    seed_everything(0)
    teacher = build_model("resnet18", n_classes=a.classes, width=a.t_width, stem="cifar").to(dev).eval()
    student0 = build_model("resnet18", n_classes=a.classes, width=a.s_width, stem="cifar")
    g = torch.Generator().manual_seed(0)
    batch = {"x": torch.randn(a.batch, 3, a.size, a.size, generator=g).to(dev),
             "y": torch.randint(0, a.classes, (a.batch,), generator=g).to(dev), "idx": torch.arange(a.batch).to(dev)}
    cfg = dict(lr=0.05, momentum=0.9, weight_decay=5e-4, device=str(dev), amp=False)

    hands = [copy.deepcopy(student0).to(dev).train() for _ in range(2)]
    opts = [torch.optim.SGD(h.parameters(), lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"])
            for h in hands]
    zoo = build_distiller("dkd", teacher, copy.deepcopy(student0), **DKD).prepare(TrainConfig(**cfg)).train()
    zoo_nocheck = build_distiller("dkd", teacher, copy.deepcopy(student0), **DKD).prepare(
        TrainConfig(**cfg, check_grads=False)).train()
    steps = {"hand": lambda e: hand_step(hands[0], teacher, opts[0], batch, e),
             "hand_again": lambda e: hand_step(hands[1], teacher, opts[1], batch, e),   # null control: noise/position
             "zoo": lambda e: zoo.train_step(batch, e),
             "zoo_check_grads_off": lambda e: zoo_nocheck.train_step(batch, e)}

    first = {m: {k: float(v) for k, v in f(0).items()} for m, f in steps.items()}     # identical start → identical losses
    same_first_step = all(v == first["hand"] for v in first.values())
    times, names = {m: [] for m in steps}, list(steps)
    for i in range(a.warmup + a.repeats):
        for m in names[i % len(names):] + names[:i % len(names)]:        # rotate the order: no fixed position
            f = steps[m]
            sync(dev); t0 = time.perf_counter(); f(1); sync(dev)
            if i >= a.warmup: times[m].append(time.perf_counter() - t0)
    med = {m: statistics.median(v) for m, v in times.items()}
    hand_pooled = times["hand"] + times["hand_again"]                 # both hand-written copies: twice the samples
    ratio = med["zoo"] / statistics.median(hand_pooled)
    paired = statistics.median(z / ((h1 + h2) / 2) for z, h1, h2 in zip(times["zoo"], times["hand"], times["hand_again"]))
    res = dict(
        what="DKD train_step: zoo Distiller (build_distiller('dkd')) vs the same step by hand, interleaved, medians",
        setup=dict(teacher=f"resnet18 width {a.t_width} (cifar stem)", student=f"resnet18 width {a.s_width} (cifar stem)",
                   size=a.size, batch=a.batch, classes=a.classes, device=str(dev), threads=a.threads, optimizer="sgd",
                   repeats=a.repeats, warmup=a.warmup, torch=torch.__version__,
                   cpu=platform.processor() or platform.machine(), load_avg=os.getloadavg()),
        first_step_losses=first, same_first_step_losses=same_first_step,
        median_s=med, all_s=times, median_hand_pooled_s=statistics.median(hand_pooled),
        ratio_zoo_over_hand=ratio, ratio_zoo_over_first_hand_only=med["zoo"] / med["hand"], paired_median_ratio=paired,
        ratio_zoo_check_grads_off_over_hand=med["zoo_check_grads_off"] / med["hand"],
        ratio_hand_again_over_hand=med["hand_again"] / med["hand"], target_ratio_max=1.05)
    atomic_write_json(a.out, res)
    md = ("| step | median (s) | images/s | / hand |\n|---|---|---|---|\n"
          + "".join(f"| {m} | {med[m]:.4f} | {a.batch / med[m]:.0f} | {med[m] / med['hand']:.3f} |\n" for m in med)
          + f"\nzoo DKD step / hand-written step = **{ratio:.3f}** (median of the zoo step over the median of both hand-written "
          f"copies, {a.repeats} interleaved repeats, order rotated; median of per-repeat ratios zoo / mean(hand, hand_again) "
          f"{paired:.3f}; target ≤ 1.05; the null control "
          f"hand_again / hand = {res['ratio_hand_again_over_hand']:.3f} shows the noise). First-step losses identical: "
          f"{same_first_step}. {res['setup']}\n")
    atomic_write_text(Path(a.out).with_suffix(".md"), md)
    print(md)


if __name__ == "__main__":
    main()

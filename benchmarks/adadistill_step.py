"""AdaDistill step time vs vanilla KD step time, same teacher/student/batch, measured side by side.

Both methods run the frozen teacher online (no cache), the student forward/backward and one SGD step; they differ
only in the loss: vanilla KD = trainable margin head + CE + T²·KL(teacher-head ‖ student-head logits);
AdaDistill = centre update from teacher embeddings + margin CE against the centres. Steps of the two methods are
interleaved (A B A B ...) so that machine load affects both alike; we report medians and the ratio of medians.

    python benchmarks/adadistill_step.py [--repeats 15] [--device cpu|cuda] [--out benchmarks/adadistill_step.json]
"""
import argparse, json, platform, statistics, time, os
from pathlib import Path

import torch

from fairkd_nb.core import seed_everything, get_device, atomic_write_json, atomic_write_text
from fairkd_nb.models import build_model
from fairkd_nb.heads import build_head
from fairkd_nb.train import TrainConfig
from fairkd_nb.methods.adadistill import AdaDistill, AdaptiveCentreHead, KDStudent


def make(method, args, dev):
    seed_everything(0)
    t = build_model("iresnet50", emb=args.emb, width=args.t_width, in_size=args.size).to(dev).eval()
    s = build_model("mobilefacenet", emb=args.emb, width=args.s_width, in_size=args.size)
    if method == "kd":
        th = build_head("arcface", emb=args.emb, n_classes=args.classes, m=0.45)
        d = KDStudent(t, th.kernel.detach(), s, build_head("arcface", emb=args.emb, n_classes=args.classes, m=0.45), flip_seed=None)
    else:
        d = AdaDistill(t, s, AdaptiveCentreHead(args.classes, args.emb, alpha="adaptive", seed=0), flip_seed=None)
    d.to(dev)
    d.cfg, d.device = TrainConfig(device=str(dev), grad_clip=5.0, lr=0.1), dev
    d.optimizers = d.configure_optimizers(d.cfg)
    d.train()
    return d


def step_time(d, batch, dev):
    if dev.type == "cuda": torch.cuda.synchronize()
    t0 = time.perf_counter(); d.train_step(batch, 0)
    if dev.type == "cuda": torch.cuda.synchronize()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15); ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64); ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--classes", type=int, default=10_000); ap.add_argument("--emb", type=int, default=512)
    ap.add_argument("--t-width", type=float, default=0.5); ap.add_argument("--s-width", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2); ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(Path(__file__).with_name("adadistill_step.json")))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = get_device(a.device)
    g = torch.Generator().manual_seed(0)
    batch = {"x": torch.randn(a.batch, 3, a.size, a.size, generator=g).to(dev),
             "y": torch.randint(0, a.classes, (a.batch,), generator=g).to(dev), "idx": torch.arange(a.batch).to(dev)}
    ds = {m: make(m, a, dev) for m in ("kd", "adadistill")}
    times = {m: [] for m in ds}
    for i in range(a.warmup + a.repeats):
        for m, d in ds.items():
            t = step_time(d, batch, dev)
            if i >= a.warmup: times[m].append(t)
    med = {m: statistics.median(v) for m, v in times.items()}
    res = dict(
        what="train_step time, AdaDistill vs vanilla KD (teacher online), interleaved, medians",
        setup=dict(teacher=f"iresnet50 width {a.t_width}", student=f"mobilefacenet width {a.s_width}",
                   size=a.size, batch=a.batch, classes=a.classes, emb=a.emb, device=str(dev), threads=a.threads,
                   torch=torch.__version__, cpu=platform.processor() or platform.machine(), load_avg=os.getloadavg()),
        median_s=med, all_s=times, ratio_ada_over_kd=med["adadistill"] / med["kd"],
        images_per_s={m: a.batch / v for m, v in med.items()}, paper_ratio=0.247 / 0.207, target_ratio_max=1.10)
    atomic_write_json(a.out, res)
    md = (f"| method | median step (s) | images/s |\n|---|---|---|\n"
          + "".join(f"| {m} | {med[m]:.4f} | {a.batch / med[m]:.1f} |\n" for m in med)
          + f"\nratio AdaDistill / KD = **{res['ratio_ada_over_kd']:.3f}** (paper: 0.247/0.207 = 1.193; target ≤ 1.10). "
          f"{res['setup']}\n")
    atomic_write_text(Path(a.out).with_suffix(".md"), md)
    print(md)


if __name__ == "__main__":
    main()

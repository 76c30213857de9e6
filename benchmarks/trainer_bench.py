"""Trainer benchmarks (CPU, 1 thread). Writes benchmarks/trainer_results.json and benchmarks/trainer_results.md.

(a) overhead of `fairkd_nb.train.fit` vs a hand-written PyTorch loop: same model, data, batch size, optimiser;
    the two are run alternately, `--repeats` times each, and the ratio of the median epoch times is reported.
(b) one Hinton-KD epoch, iResNet teacher → MobileFaceNet student (CPU-sized: 32 px), with the teacher online vs
    read from the memory-mapped `fairkd_nb.cache.TeacherCache`; per-step loss values are compared.

Usage: .venv/bin/python benchmarks/trainer_bench.py [--repeats 5] [--quick]
"""
from __future__ import annotations
import argparse, json, os, platform, statistics, tempfile, time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from fairkd_nb.core import seed_everything, atomic_write_json, atomic_write_text
from fairkd_nb.train import Supervised, KDDistiller, TrainConfig, ToyData, fit
from fairkd_nb.cache import TeacherCache
from fairkd_nb.models import build_model

HERE = Path(__file__).resolve().parent


def cnn(classes=10, width=32):
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1, stride=2),
                         nn.ReLU(), nn.Conv2d(width, width, 3, padding=1, stride=2), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, classes))


def hand_epoch(model, ds, bs, lr):
    "The reference: the plainest correct PyTorch loop over the same dataset."
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    loader = torch.utils.data.DataLoader(ds, batch_size=bs, shuffle=True, drop_last=True)
    model.train()
    t = time.perf_counter()
    for b in loader:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(b["x"]), b["y"])
        loss.backward()
        opt.step()
    return time.perf_counter() - t


def trainer_epoch(model, ds, bs, lr, run=None, train_module=None):
    tm = train_module
    cfg = (tm.TrainConfig if tm else TrainConfig)(epochs=1, batch_size=bs, lr=lr, device="cpu", progress=False)
    t = time.perf_counter()
    (tm.fit if tm else fit)((tm.Supervised if tm else Supervised)(model), ds, cfg, run=run)
    return time.perf_counter() - t


def load_baseline(path):
    "Another version of fairkd_nb/train.py (e.g. `git show <rev>:fairkd_nb/train.py`), imported inside the package."
    import importlib.util, sys
    spec = importlib.util.spec_from_file_location("fairkd_nb._train_baseline", path)
    mod = importlib.util.module_from_spec(spec); sys.modules[spec.name] = mod; spec.loader.exec_module(mod)
    return mod


def bench_overhead(repeats, n, size, baseline=None, baseline_name=""):
    ds = ToyData(n, classes=10, size=size)
    bs, lr = 64, 0.05
    hand, tr, tr_run, base = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats + 1):            # first round is warm-up, not recorded
            seed_everything(r); h = hand_epoch(cnn(), ds, bs, lr)
            seed_everything(r); t = trainer_epoch(cnn(), ds, bs, lr)
            seed_everything(r); tc = trainer_epoch(cnn(), ds, bs, lr, run=Path(tmp) / f"r{r}")
            if baseline is not None: seed_everything(r); b = trainer_epoch(cnn(), ds, bs, lr, train_module=baseline)
            if r:
                hand.append(h); tr.append(t); tr_run.append(tc)
                if baseline is not None: base.append(b)
    med = statistics.median
    out = dict(model="3-conv CNN, width 32", images=n, size=size, batch=bs, steps=n // bs, repeats=repeats,
               hand_s=hand, trainer_s=tr, trainer_with_checkpoint_s=tr_run,
               hand_median_s=med(hand), trainer_median_s=med(tr), trainer_with_checkpoint_median_s=med(tr_run),
               ratio=med(tr) / med(hand), ratio_with_checkpoint=med(tr_run) / med(hand),
               ratio_of_paired=med([t / h for t, h in zip(tr, hand)]))
    if baseline is not None:
        out.update(baseline=baseline_name, baseline_s=base, baseline_median_s=med(base),
                   baseline_ratio=med(base) / med(hand), ratio_vs_baseline=med(tr) / med(base),
                   ratio_vs_baseline_of_paired=med([t / b for t, b in zip(tr, base)]))
    return out


class StepLosses:
    def __init__(self): self.values = []
    def on_step_end(self, tr, losses): self.values.append({k: float(v) for k, v in losses.items()})


def bench_cache(repeats, n, teacher_name, teacher_width, student_width, size, classes=10):
    torch.manual_seed(0)
    teacher = build_model(teacher_name, n_classes=classes, width=teacher_width, in_size=size)
    ds = ToyData(n, classes=classes, size=size)
    root = Path(tempfile.mkdtemp())
    t = time.perf_counter()
    cache = TeacherCache.build(teacher, ds, root, data_id=f"toy{n}-{size}", batch_size=64, progress=False)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    TeacherCache.build(teacher, ds, root, data_id=f"toy{n}-{size}", batch_size=64, progress=False)
    reopen_s = time.perf_counter() - t
    cfg = TrainConfig(epochs=1, batch_size=64, lr=0.05, device="cpu", progress=False)

    def one(use_cache):
        seed_everything(1)
        student = build_model("mobilefacenet", n_classes=classes, width=student_width, in_size=size)
        d = KDDistiller(teacher, student)
        if use_cache: d.use_cache(cache)
        rec = StepLosses()
        t0 = time.perf_counter()
        fit(d, ds, cfg, callbacks=[rec])
        return time.perf_counter() - t0, rec.values

    online, cached, losses = [], [], {}
    for r in range(repeats):
        a, la = one(False); b, lb = one(True)
        online.append(a); cached.append(b); losses = dict(online=la, cached=lb)
    diffs = [abs(x[k] - y[k]) for x, y in zip(losses["online"], losses["cached"]) for k in x]
    med = statistics.median
    return dict(teacher=f"{teacher_name} width {teacher_width}", student=f"mobilefacenet width {student_width}",
                size=size, images=n, batch=64, steps=n // 64, repeats=repeats, cache_build_s=build_s,
                cache_reopen_s=reopen_s, online_s=online, cached_s=cached, online_median_s=med(online),
                cached_median_s=med(cached), speedup=med(online) / med(cached),
                loss_max_abs_diff=max(diffs), losses_bit_identical=all(d == 0 for d in diffs),
                step_losses=losses)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only-overhead", action="store_true", help="re-measure (a) only; keep (b) from the last record")
    ap.add_argument("--baseline", default="", help="another train.py to time side by side in (a), e.g. the previous commit's")
    ap.add_argument("--baseline-name", default="", help="how to call it in the record (e.g. the commit)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    try: load = os.getloadavg()
    except OSError: load = None
    old = json.loads((HERE / "trainer_results.json").read_text()) if (HERE / "trainer_results.json").exists() else {}
    res = dict(torch=torch.__version__, python=platform.python_version(), cpu_count=os.cpu_count(), threads=1,
               loadavg_before=load, note="2-core machine shared with other helpers' jobs: absolute times are noisy; "
               "ratios are measured side by side (alternating runs) to cancel most of it.",
               measured=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    res["overhead"] = bench_overhead(a.repeats, 512 if a.quick else 2048, 32,
                                     load_baseline(a.baseline) if a.baseline else None, a.baseline_name or a.baseline)
    if a.only_overhead and "cache" in old:
        res["cache"] = old["cache"]
        res["cache_note"] = old.get("cache_note", f"(b) kept from the record of {old.get('measured', 'an earlier run')} "
                                    f"(torch {old.get('torch')}); not re-measured in this run")
    else:
        res["cache"] = [bench_cache(max(2, a.repeats // 2), 512, "iresnet50", 1.0, 0.5, 32),
                        bench_cache(max(2, a.repeats // 2), 512, "iresnet18", 1.0, 0.5, 32)]
    try: res["loadavg_after"] = os.getloadavg()
    except OSError: pass
    loads = [v for v in (load, res.get("loadavg_after")) if v]
    res["under_load"] = bool(loads and max(l[0] for l in loads) > 1.5)   # 2 cores, this job uses one
    atomic_write_json(HERE / "trainer_results.json", res)
    o = res["overhead"]
    fmt = lambda l: "n/a" if not l else ", ".join(f"{v:.2f}" for v in l)
    md = ["# Trainer benchmarks", "", f"Measured {res['measured']}; torch {res['torch']}, 1 thread, CPU ({res['cpu_count']} "
          f"cores shared with other jobs; load average before {fmt(load)}, after {fmt(res.get('loadavg_after'))}"
          + ("; **measured under load**: other jobs used the cores, absolute times are inflated and noisier" if res["under_load"]
             else "") + "). Ratios come from alternating runs; medians over repeats.", "",
          "## (a) `fit` overhead vs a hand-written loop (target ≤ 1.05)", "",
          "| model | images/epoch | batch | hand loop (median s) | fit (median s) | ratio | fit + checkpoint + history | ratio |",
          "|---|---|---|---|---|---|---|---|",
          f"| {o['model']} @ {o['size']} px | {o['images']} | {o['batch']} | {o['hand_median_s']:.3f} | "
          f"{o['trainer_median_s']:.3f} | **{o['ratio']:.3f}** | {o['trainer_with_checkpoint_median_s']:.3f} | "
          f"{o['ratio_with_checkpoint']:.3f} |", "",
          f"Median of per-repeat paired ratios: {o['ratio_of_paired']:.3f} ({o['repeats']} repeats after one warm-up).",
          *([f"", f"Side by side, `fit` of {o['baseline']}: median {o['baseline_median_s']:.3f} s (ratio to the hand loop "
             f"{o['baseline_ratio']:.3f}); this `fit` / that one: {o['ratio_vs_baseline']:.3f} (median of paired ratios "
             f"{o['ratio_vs_baseline_of_paired']:.3f})."] if "baseline" in o else []),
          "", "## (b) One KD epoch: teacher online vs cached (target ≥ 3×, identical losses)", "",
          *([res["cache_note"], ""] if "cache_note" in res else []),
          "| teacher → student | px | images | online (median s) | cached (median s) | speed-up | cache build (once) | "
          "max abs loss diff | bit-identical |", "|---|---|---|---|---|---|---|---|---|"]
    for c in res["cache"]:
        md.append(f"| {c['teacher']} → {c['student']} | {c['size']} | {c['images']} | {c['online_median_s']:.2f} | "
                  f"{c['cached_median_s']:.2f} | **{c['speedup']:.2f}×** | {c['cache_build_s']:.2f} s | "
                  f"{c['loss_max_abs_diff']:.2e} | {c['losses_bit_identical']} |")
    md += ["", "The cache build costs about one online epoch of teacher forwards and is reused by every later epoch and "
           "run with the same teacher, data and transform (re-opening it: "
           f"{res['cache'][0]['cache_reopen_s']:.2f} s, mostly hashing the teacher weights).", ""]
    atomic_write_text(HERE / "trainer_results.md", "\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()

"""Throughput of the SynthFaces renderer (`fairkd_nb.data.synth.render_faces`), batched, on a fixed number of threads.

Usage: python benchmarks/synth_render.py [--threads 2] [--sizes 32 48 64 112] [--repeats 7] [--n 4096] [--batch 128]

For each size it renders `n` images in batches of `batch`, `repeats` times, and records the median (and min/max)
images per second, plus the end-to-end time of `SynthFaces(...).render()` (factor sampling + rendering + uint8
conversion) at 64 px. The machine load (1-minute load average) before and after is recorded, because other processes
on a shared machine slow the measurement down. Results go to benchmarks/synth_render.json and .md (atomic writes).
"""
from __future__ import annotations
import argparse, os, platform, statistics, time
from pathlib import Path

import torch

from fairkd_nb.core import atomic_write_json, atomic_write_text
from fairkd_nb.data.synth import SynthFaces, face_factors, render_faces, N_ID_LATENT, N_IMG_LATENT

HERE = Path(__file__).resolve().parent


def factors(n: int, seed: int = 0) -> dict:
    "Factors of n random faces (all groups, genders, ages)."
    g = torch.Generator().manual_seed(seed)
    i = torch.arange(n)
    return face_factors(i % 4, (i // 4) % 2, (i // 8) % 3, torch.randn(n, N_ID_LATENT, generator=g),
                        torch.randn(n, N_IMG_LATENT, generator=g))


def bench_size(f: dict, size: int, batch: int, repeats: int) -> dict:
    "Median/min/max images per second of render_faces over `repeats` passes over all factors."
    n = f["head_w"].shape[0]
    chunks = [{k: v[i:i + batch] for k, v in f.items()} for i in range(0, n, batch)]
    with torch.inference_mode():
        render_faces(chunks[0], size)                               # warm-up (noise bank, allocator)
        rates = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for ch in chunks: render_faces(ch, size)
            rates.append(n / (time.perf_counter() - t0))
    return {"size": size, "images": n, "batch": batch, "repeats": repeats, "median_img_s": statistics.median(rates),
            "min_img_s": min(rates), "max_img_s": max(rates)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 48, 64, 112])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--out", default=str(HERE / "synth_render"))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    load0 = os.getloadavg()[0]
    f = factors(a.n)
    rows = [bench_size(f, s, a.batch, a.repeats) for s in a.sizes]
    e2e = []
    for r in range(3):
        t0 = time.perf_counter()
        SynthFaces("generation", "train", size=64, n=a.n, seed=r).render()
        e2e.append(a.n / (time.perf_counter() - t0))
    load1 = os.getloadavg()[0]
    res = {"threads": a.threads, "cpu_count": os.cpu_count(), "torch": torch.__version__,
           "machine": platform.machine(), "processor": platform.processor() or platform.platform(),
           "loadavg_1min_before": load0, "loadavg_1min_after": load1,
           "target_img_s_64px": 5000, "results": rows,
           "dataset_render_64px_img_s_median": statistics.median(e2e),
           "timestamp": time.strftime("%Y-%m-%d %H:%M:%S")}
    r64 = next((r for r in rows if r["size"] == 64), None)
    if r64: res["meets_target_64px"] = r64["median_img_s"] >= 5000
    atomic_write_json(a.out + ".json", res)
    md = [f"# SynthFaces render throughput", "",
          f"`python benchmarks/synth_render.py --threads {a.threads}` — {res['timestamp']}, torch {res['torch']}, "
          f"{res['cpu_count']} CPUs visible, {a.threads} thread(s); 1-min load average {load0:.2f} before, "
          f"{load1:.2f} after (a shared machine: load above ~0.5 means other processes competed for the cores).", "",
          "| size (px) | images | batch | median img/s | min | max |", "|---|---|---|---|---|---|"]
    md += [f"| {r['size']} | {r['images']} | {r['batch']} | {r['median_img_s']:,.0f} | {r['min_img_s']:,.0f} | "
           f"{r['max_img_s']:,.0f} |" for r in rows]
    md += ["", f"End to end, `SynthFaces('generation', 'train', size=64, n={a.n}).render()` (sampling + rendering + "
           f"uint8): median {res['dataset_render_64px_img_s_median']:,.0f} img/s.", "",
           f"Target (synthfaces.md §5): at least 5,000 img/s at 64 px on 2 cores"
           + (f" — {'met' if res.get('meets_target_64px') else 'NOT met'} in this run." if r64 else ".")]
    atomic_write_text(a.out + ".md", "\n".join(md) + "\n")
    print("\n".join(md))
    return res


if __name__ == "__main__":
    main()

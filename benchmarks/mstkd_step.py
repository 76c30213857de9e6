"""MST-KD: a student step from cached fused targets vs a standalone student step, side by side.

Both train the same backbone (the `course` student: iResNet-18 at width 1/4, 128-D, 32 px, batch 64) with the same
ElasticArcFace head and two SGD optimisers, on the same batch with the same flip augmentation. The MST-KD step
(`FusedKD`, EAF-KD) also reads the batch's fused targets from the fp16 memory-mapped derived table (`cache.derive`) —
no teacher or adaptor runs — and adds λ·MSE. The standalone step (`stages.MarginModel`) is timed twice (`standalone`,
`standalone_again`: a null control that shows the noise). Steps are interleaved with the order rotated every repeat; we
report medians and the ratio of the MST-KD median to the median of both standalone copies (target ≤ 1.1).

    python benchmarks/mstkd_step.py [--repeats 31] [--threads 2] [--out benchmarks/mstkd_step.json]
"""
import argparse, copy, os, platform, statistics, tempfile, time
from pathlib import Path

import torch
import torch.nn.functional as F

from fairkd_nb.core import seed_everything, atomic_write_json, atomic_write_text
from fairkd_nb.models import build_model
from fairkd_nb.cache import TeacherCache, module_hash
from fairkd_nb.data.synth import SynthFaces
from fairkd_nb.stages import MarginModel
from fairkd_nb.train import TrainConfig
from fairkd_nb.methods.mstkd import FusedKD, Adaptor, eaf_head, default_lambda


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=31); ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).with_name("mstkd_step.json")))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    seed_everything(0)
    arch = dict(name="iresnet18", width=0.25, emb=128, in_size=32)
    ds = SynthFaces("identity", "train", size=32, n_ids=64, imgs_per_id=4, group_props=(0.25,) * 4)
    teachers = [build_model(**arch).eval() for _ in range(4)]
    root = Path(tempfile.mkdtemp())
    cache = TeacherCache.build(teachers, ds, root, flip=True, dtype="float16", normalize=True, names=list("ABCD"), progress=False)
    ad = Adaptor("sl", 4, 128).eval()
    fused = cache.derive("fused_sl", lambda outs: ad(torch.stack([o["out"] for o in outs], 1)), key=module_hash(ad))
    batch = torch.utils.data.default_collate([ds[i] for i in range(a.batch)])
    cfg = TrainConfig(lr=0.1, momentum=0.9, weight_decay=5e-4, grad_clip=5.0, device="cpu")
    b0, h0 = build_model(**arch), eaf_head(128, ds.n_classes, 0.05, 0)
    mk_sa = lambda: MarginModel(copy.deepcopy(b0), copy.deepcopy(h0), flip_seed=0).prepare(cfg).train()
    models = {"standalone": mk_sa(), "standalone_again": mk_sa(),
              "mstkd_eaf_kd": FusedKD(copy.deepcopy(b0), fused, copy.deepcopy(h0), default_lambda(128), flip_seed=0).prepare(cfg).train()}
    times, names = {m: [] for m in models}, list(models)
    for i in range(a.warmup + a.repeats):
        for m in names[i % len(names):] + names[:i % len(names)]:
            d = models[m]
            t0 = time.perf_counter(); d.train_step(batch, 0); dt = time.perf_counter() - t0
            d.global_step += 1
            if i >= a.warmup: times[m].append(dt)
    med = {m: statistics.median(v) for m, v in times.items()}
    pooled = statistics.median(times["standalone"] + times["standalone_again"])
    ratio = med["mstkd_eaf_kd"] / pooled
    res = dict(what="MST-KD EAF-KD student step from cached fused targets vs a standalone EAF student step, interleaved",
               setup=dict(arch=arch, batch=a.batch, threads=a.threads, repeats=a.repeats, warmup=a.warmup,
                          torch=torch.__version__, cpu=platform.processor() or platform.machine(), load_avg=os.getloadavg()),
               median_s=med, all_s=times, median_standalone_pooled_s=pooled, ratio_mstkd_over_standalone=ratio,
               ratio_null_control=med["standalone_again"] / med["standalone"], target_ratio_max=1.1)
    atomic_write_json(a.out, res)
    md = ("| step | median (s) | images/s |\n|---|---|---|\n"
          + "".join(f"| {m} | {med[m]:.4f} | {a.batch / med[m]:.0f} |\n" for m in med)
          + f"\nMST-KD step / standalone step = **{ratio:.3f}** (target ≤ 1.1; {a.repeats} interleaved repeats, order "
          f"rotated; null control standalone_again / standalone = {res['ratio_null_control']:.3f}; load average "
          f"{tuple(round(x, 1) for x in res['setup']['load_avg'])})\n")
    atomic_write_text(Path(a.out).with_suffix(".md"), md)
    print(md)


if __name__ == "__main__":
    main()

"""CPU timings of the loss zoo (1 thread): forward + backward per call, typical batch sizes.
Run: .venv/bin/python benchmarks/losses_cpu_timing.py  → prints a markdown table and writes benchmarks/losses_cpu_timing.json."""
import json, time, torch
from pathlib import Path
import torch.nn.functional as F
from fairkd_nb import losses as L

torch.set_num_threads(1); torch.manual_seed(0)

def bench(fn, n=5):
    fn(); ts = []
    for _ in range(n):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return 1e3 * sorted(ts)[len(ts) // 2]

B, K = 128, 100
ls, lt = torch.randn(B, K, requires_grad=True), torch.randn(B, K)
es, et = torch.randn(B, 512, requires_grad=True), torch.randn(B, 512)
fs, ft = torch.randn(B, 64, 7, 7, requires_grad=True), torch.randn(B, 64, 7, 7)
y, y2, s = torch.randint(0, K, (B,)), torch.randint(0, 2, (B,)), torch.randint(0, 2, (B,))
dirs = F.normalize(torch.randn(K, 512), dim=1)
cases = {
    "kd_loss B128 K100": lambda: L.kd_loss(ls, lt).backward(),
    "dkd_loss B128 K100": lambda: L.dkd_loss(ls, lt, y).backward(),
    "at_loss 1 stage 64x7x7": lambda: L.at_loss([fs], [ft]).backward(),
    "rkd_loss B128 d512": lambda: L.rkd_loss(es, et).backward(),
    "rkd_loss B128 d512 chunk32": lambda: L.rkd_loss(es, et, chunk=32).backward(),
    "rkd_loss B64 d128 (course size)": lambda: L.rkd_loss(es[:64, :128], et[:64, :128]).backward(),
    "nd_loss B128 d512": lambda: L.nd_loss(es, et, y, dirs).backward(),
    "mfd_loss B128 64x7x7": lambda: L.mfd_loss(fs, ft, y2, s).backward(),
    "eo_loss B128 K2": lambda: L.eo_loss(ls[:, :2], y2, s).backward(),
}
res = {k: round(bench(f), 3) for k, f in cases.items()}
print("| loss | ms (fwd+bwd, median of 5, 1 CPU thread) |\n|---|---|")
for k, v in res.items(): print(f"| {k} | {v} |")
Path(__file__).with_suffix(".json").write_text(json.dumps({"torch": torch.__version__, "threads": 1, "ms": res}, indent=2) + "\n")

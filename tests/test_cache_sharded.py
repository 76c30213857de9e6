"""The teacher cache is built sharded across processes (each rank computes a disjoint set of chunks) and gives the same
array as a one-process build; derived targets too."""
import numpy as np
import torch
import torch.nn as nn

from fairkd_nb.cache import TeacherCache, module_hash
from fairkd_nb.train import ToyData, toy_model, launch, init_distributed, get_rank, all_gather


class _Count(nn.Module):
    "Counts the images it sees (to show that each rank computes only its share)."
    def __init__(self, inner): super().__init__(); self.inner, self.seen = inner, 0
    def forward(self, x): self.seen += len(x); return self.inner(x)
    def extra_repr(self): return "counted"


def _build(root, nprocs):
    if nprocs > 1: init_distributed("cpu")
    torch.manual_seed(0)
    t = _Count(toy_model(width=8))
    c = TeacherCache.build(t, ToyData(100), root, flip=True, batch_size=8, dtype="float16", progress=False)
    fuse = nn.Linear(3, 2)
    d = c.derive("lin", lambda outs: fuse(outs[0]["out"]), key=module_hash(fuse), batch_size=16)
    seen = all_gather(torch.tensor([t.seen])).tolist()
    return np.asarray(c.arr).copy(), d.to_tensor(), seen, c.path.name


def test_sharded_build_matches_one_process(tmp_path):
    a1, d1, seen1, k1 = _build(tmp_path / "one", 1)
    a2, d2, seen2, k2 = launch(_build, 2, tmp_path / "two", 2)
    assert k1 == k2 and a1.dtype == np.float16 and a1.shape == (100, 2, 3)
    np.testing.assert_array_equal(a1, a2)
    torch.testing.assert_close(d1, d2, rtol=0, atol=0)
    # one process: the probe (1 image × 2 views) + 100 images × 2 views; two processes: the chunks of 32 rows split
    # 0,2 / 1,3 → 64 + 36 rows per rank (plus each rank's probe)
    assert seen1 == [2 + 200]
    assert sorted(seen2) == sorted([2 + 2 * 64, 2 + 2 * 36]), seen2
    assert not list((tmp_path / "two").glob("*.partial"))

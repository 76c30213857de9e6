"""SynthFaces determinism across processes and the benchmark script's output format."""
import hashlib, json, subprocess, sys
from pathlib import Path

import torch

from fairkd_nb.data.synth import SynthFaces

CODE = ("import hashlib, torch; torch.set_num_threads(1); from fairkd_nb.data.synth import SynthFaces; "
        "d = SynthFaces('identity', 'test', size=32, n_ids=16, imgs_per_id=2, n_folds=1, seed=7); "
        "print(hashlib.sha256(d.images.numpy().tobytes()).hexdigest(), "
        "hashlib.sha256(d.pairs.to_csv().encode()).hexdigest())")


def _digest(seed=7):
    d = SynthFaces("identity", "test", size=32, n_ids=16, imgs_per_id=2, n_folds=1, seed=seed)
    return (hashlib.sha256(d.images.numpy().tobytes()).hexdigest(), hashlib.sha256(d.pairs.to_csv().encode()).hexdigest())


def test_bit_identical_in_a_fresh_process():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True).stdout.split()
    assert tuple(out) == _digest()


def test_seed_changes_data():
    assert _digest(7)[0] != _digest(8)[0]


def test_benchmark_script(tmp_path):
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, str(root / "benchmarks" / "synth_render.py"), "--threads", "1", "--sizes", "32",
                    "--repeats", "1", "--n", "64", "--batch", "32", "--out", str(tmp_path / "b")], check=True,
                   capture_output=True)
    res = json.loads((tmp_path / "b.json").read_text())
    assert res["results"][0]["size"] == 32 and res["results"][0]["median_img_s"] > 0
    assert (tmp_path / "b.md").read_text().startswith("# SynthFaces render throughput")

"""AdaDistill: centres identical across processes, exact resume, and the notebook rerun with papermill."""
import glob, json, os, subprocess, sys
from pathlib import Path
from nbrun import papermill, check_report

import pytest
import torch
import torch.nn.functional as F

from fairkd_nb.core import seed_everything
from fairkd_nb.models import build_model
from fairkd_nb.train import fit, launch, all_gather_object, get_rank, get_world_size, init_distributed, StopTraining
from fairkd_nb.methods.adadistill import AdaDistill, AdaptiveCentreHead, update_centres

ROOT = Path(__file__).resolve().parents[1]
C, D = 6, 16


class Tiny(torch.utils.data.Dataset):
    "64 random 32 px images over 6 identities (many duplicate labels per batch)."
    def __init__(self, n=64):
        g = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, C, (n,), generator=g)
    def __len__(self): return len(self.y)
    def __getitem__(self, i): return {"x": self.x[i], "y": self.y[i], "s": self.y[i] % 2, "idx": torch.tensor(i)}


def _distiller(alpha="adaptive"):
    seed_everything(0)
    t = build_model("iresnet18", width=0.125, emb=D, in_size=32).eval()
    s = build_model("mobilefacenet", width=0.25, emb=D, in_size=32)
    return AdaDistill(t, s, AdaptiveCentreHead(C, D, alpha=alpha, check_every=5, seed=0))


def _train_20_steps():
    d = _distiller()
    fit(d, Tiny(), dict(epochs=5, batch_size=16, lr=0.05, grad_clip=5.0, device="cpu", progress=False))
    return all_gather_object(d.head.centres.clone()), d.global_step


def test_two_processes_keep_identical_centres():
    per_rank, steps = launch(_train_20_steps, 2)
    assert steps == 20 and len(per_rank) == 2
    assert torch.equal(per_rank[0], per_rank[1])              # bit-identical on both ranks
    assert not torch.allclose(per_rank[0], torch.zeros_like(per_rank[0]))


def _gathered_update(y, ft, c, W0, policy):
    "Each rank feeds the rows ShardedSampler gives it ([r::W] of the global batch); the head all-gathers and updates."
    init_distributed("cpu")
    assert get_world_size() == 2
    r = get_rank()
    h = AdaptiveCentreHead(C, D, alpha="adaptive", check_every=1, dup_policy=policy)
    h.centres.copy_(W0)
    sl = slice(r, None, 2)
    rates = h.update(y[sl], ft[sl], c[sl])                      # also runs the checksum check (check_every=1)
    return h.centres.clone(), all_gather_object(rates["alpha"])


@pytest.mark.parametrize("policy", ["sequential", "last", "mean"])
def test_gathered_update_equals_one_process_on_the_global_batch(policy):
    g = torch.Generator().manual_seed(1)
    y = torch.tensor([0, 0, 1, 2, 1, 1, 3, 0, 2, 4, 5, 2, 0, 3, 1, 5, 4, 4, 2, 0, 5, 3, 3, 1])   # duplicates on both ranks
    assert set(y[0::2].tolist()) & set(y[1::2].tolist()) == set(range(C))
    ft = F.normalize(torch.randn(24, D, generator=g), dim=1)
    c = torch.rand(24, generator=g) * 2 - 1
    W0 = torch.randn(C, D, generator=g) * 0.01
    W2, rates2 = launch(_gathered_update, 2, y, ft, c, W0, policy)
    W1 = W0.clone()
    r1 = update_centres(W1, y, ft, c, "adaptive", policy)
    torch.testing.assert_close(W2, W1, rtol=0, atol=1e-6)
    got = torch.empty(24); got[0::2], got[1::2] = rates2[0], rates2[1]   # each rank got its own rows back
    torch.testing.assert_close(got, r1["alpha"], rtol=0, atol=1e-6)


class _StopAfterFirstEpoch:
    def on_epoch_end(self, tr, row):
        if tr.epoch == 0: raise StopTraining


def test_resume_reproduces_centres_and_losses(tmp_path):
    cfg = dict(epochs=2, batch_size=16, lr=0.05, grad_clip=5.0, device="cpu", progress=False, deterministic=True)
    a = _distiller()
    ra = fit(a, Tiny(), cfg, run=tmp_path / "a")
    b = _distiller()
    fit(b, Tiny(), cfg, run=tmp_path / "b", callbacks=[_StopAfterFirstEpoch()])
    assert b.global_step == 4
    b2 = _distiller()                                            # a fresh process would start like this
    rb = fit(b2, Tiny(), cfg, run=tmp_path / "b", resume=True)
    assert torch.equal(a.head.centres, b2.head.centres)
    assert a.head.steps == b2.head.steps == 8                    # the centre head's step counter resumes too
    assert ra.history[-1]["train/loss_ce"] == rb.history[-1]["train/loss_ce"]
    for k, v in a.student.state_dict().items(): assert torch.equal(v, b2.student.state_dict()[k]), k


def _papermill(args, out_dir, tmp_path):
    return papermill("adadistill", args, out_dir, tmp_path / "out.ipynb")


def _check_report(run: Path) -> dict: return check_report(run, "AdaDistill", n_figures=(2, 4))


def test_papermill_rerun_exactly_as_documented(tmp_path):
    "`papermill nbs/adadistill.ipynb out.ipynb -p alpha adaptive` from the repo root (smoke preset under tests)."
    r = _papermill(["-p", "alpha", "adaptive"], tmp_path / "runs", tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    [mfile] = glob.glob(str(tmp_path / "runs/adadistill/*/metrics.json"))
    m = json.loads(Path(mfile).read_text())
    for meth in ("teacher", "standalone", "kd", "arcdistill", "adadistill_plain", "adadistill"):
        assert 0.0 <= m[f"{meth}/acc/mean"] <= 1.0 and f"{meth}/group_std/mean" in m
    run = Path(mfile).parent
    params = json.loads((run / "params.json").read_text())
    assert params["alpha"] == "adaptive" and params["preset_resolved"] == "smoke"
    for fig in ("alpha_curves", "group_accuracy", "violins_teacher", "violins_adadistill"):
        assert (run / "figures" / f"{fig}.png").stat().st_size > 1000
    assert (run / "adadistill-s0" / "checkpoints" / "last.safetensors").exists()
    # one seed: no spread was measured, so sd is null (not 0); every number is named with its grouping and protocol
    assert m["adadistill/acc/sd"] is None and m["adadistill/acc/n"] == 1
    for g in ("grp", "e", "g"): assert f"adadistill/{g}/bfw_global/std/mean" in m and f"adadistill/{g}/fdr@1e-01/mean" in m
    # every model leaves its scored pairs and per-group tables, so the explorer works on the finished run
    import pandas as pd
    from fairkd_nb.viz import verification_explorer
    for meth in ("teacher", "standalone", "adadistill"):
        pairs = pd.read_csv(run / f"{meth}-s0" / "pairs.csv")
        assert {"score", "label", "grp1", "e1", "g1", "fold"} <= set(pairs.columns) and pairs.score.between(-1, 1).all()
        per = pd.read_csv(run / f"{meth}-s0" / "per_group_subgroup.csv")
        assert len(per) == 8 and "far_global@1e-01" in per.columns
    panel = verification_explorer(run)
    assert panel is not None
    rep = _check_report(run)
    # one row per model (one seed), the accuracy in % matching metrics.json
    assert len(rep["rows"]) == 6 and {r["seed"] for r in rep["rows"]} == {0}
    by = {r["setting"]: r for r in rep["rows"]}
    assert abs(by["AdaDistill (α′)"]["acc"] - 100 * m["adadistill/acc/mean"]) < 1e-9
    assert {"acc", "group_std", "group_ser", "group_min"} <= set(rep["metrics"])
    assert len(rep["claims"]) == 4 and all(c["reproduced"] is None for c in rep["claims"])   # one seed: not judged


def test_papermill_refuses_bad_parameters_and_missing_teacher(tmp_path):
    r = _papermill(["-p", "alpah", "plain"], tmp_path / "runs", tmp_path)
    assert r.returncode != 0 and "did you mean 'alpha'" in r.stderr
    r = _papermill(["-p", "methods", "adadistill", "-p", "teacher_ckpt", str(tmp_path / "nope.safetensors")],
                   tmp_path / "runs", tmp_path)
    assert r.returncode != 0 and "Checkpoint not found" in r.stderr
    # no student was trained against a random teacher
    assert not glob.glob(str(tmp_path / "runs/adadistill/*/adadistill-s0/checkpoints/*"))


def test_real_dataset_by_parameters_alone(tmp_path):
    "dataset='ms1mv2' + data_root: RecordIO training data and an LFW-style .bin, written by the fixture writers."
    sys.path.insert(0, str(ROOT / "tests"))
    from loaders_fixtures import write_recordio, write_bin
    from fairkd_nb.methods.adadistill import identity_data, adadistill_config, run_seed
    write_recordio(tmp_path / "ms1m")
    write_bin(tmp_path / "ms1m" / "lfw.bin", n_pairs=20)
    # a 1-epoch teacher on 6 images cannot beat a random network: this test is about the data path, so the check is off
    cfg = {**adadistill_config("smoke"), "batch_size": 2, "epochs": 1, "epochs_teacher": 1,
           "teacher_check": dict(min_above_random=-1.0, max_below_student=1.0)}
    d = identity_data(cfg, "ms1mv2", str(tmp_path / "ms1m"))
    assert len(d["train"]) == 6 and d["train"].n_classes == 3 and len(d["val"].pairs) == 20
    assert tuple(d["train"][0]["x"].shape) == (3, 32, 32)
    out = run_seed(0, d, cfg, ["teacher", "adadistill"], tmp_path / "runs/adadistill/x", device="cpu")
    assert set(out["metrics"]) == {"teacher", "adadistill"}
    with pytest.raises(ValueError, match="needs data_root"):
        identity_data(cfg, "ms1mv2", "")


def test_validate_overrides_names_allowed_values():
    "The choices in the parameters cell's help are enforced before any kernel starts (`fairkd run`)."
    from fairkd_nb.core import validate_overrides, ParamError
    nb = ROOT / "nbs" / "adadistill.ipynb"
    with pytest.raises(ParamError, match=r"allowed: adaptive \| plain \| a number in \[0, 1\]") as e:
        validate_overrides(nb, {"alpha": "nonsense"})
    assert "'nonsense'" in str(e.value)
    with pytest.raises(ParamError, match="got '1.5'"): validate_overrides(nb, {"alpha": "1.5"})
    with pytest.raises(ParamError, match="Did you mean 'cos'"): validate_overrides(nb, {"margin": "coss"})
    with pytest.raises(ParamError, match="comma-separated"): validate_overrides(nb, {"methods": "teacher,adadistil"})
    with pytest.raises(ParamError, match="demo"): validate_overrides(nb, {"preset": "dmeo"})
    ok = validate_overrides(nb, {"alpha": "0.3", "methods": "teacher,kd,adadistill", "preset": "demo", "dataset": "ms1mv2"})
    assert ok["alpha"] == "0.3" and ok["preset"] == "demo"

"""Loaders of `fairkd_nb.data.real` on tiny fixtures in the real on-disk formats.

The fixtures are written by `tests/loaders_fixtures.py` (and, for Python-2 `.bin` pickles, by hand below), never by
the loaders' own code. Each format is read back with the right labels, counts and splits; missing folders, missing
annotation files, truncated images and malformed annotation lines must give errors naming the file and what was
expected; pickles that reference anything but plain types are refused before they run.
"""
from __future__ import annotations
import os, pickle, struct, subprocess, sys, warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).parent))
import loaders_fixtures as fx
from fairkd_nb.data import real
from fairkd_nb.data.real import (BFW, CIFAR100, RFW, BUPTBalancedFace, BinFormatError, CelebA, DatasetFormatError,
                                 DatasetNotFoundError, FairFace, MS1MV2, RecordIOReader, UTKFace, UnsafePickleError,
                                 VerificationBin, WIDERAttribute, load_dataset, read_celeba_attrs, read_rfw_pairs,
                                 read_verification_bin, safe_pickle_load)

torch.set_num_threads(1)
BATCH_KEYS = {"x", "y", "s", "idx"}


def check_batch(ds, n=2):
    b = next(iter(DataLoader(ds, batch_size=n)))
    assert BATCH_KEYS <= set(b)
    assert b["x"].dtype == torch.float32 and b["x"].ndim == 4
    assert b["y"].dtype == torch.int64 and b["s"].dtype == torch.int64
    assert isinstance(ds.group_names, list) and isinstance(ds.n_classes, int)
    return b


# ------------------------------------------------------------------------------------------------- CelebA
@pytest.mark.parametrize("layout", ["official", "torchvision", "kaggle"])
def test_celeba_layouts(tmp_path, layout):
    info = fx.write_celeba(tmp_path, layout=layout)
    sizes = {s: len(CelebA(tmp_path, split=s, size=16)) for s in ("train", "val", "test_full", "all")}
    assert sizes == {"train": 4, "val": 1, "test_full": 1, "all": 6}
    ds = CelebA(tmp_path, split="all", size=16, target="Smiling", sensitive="Young")
    v = info["values"]
    assert ds.y.tolist() == (v[:, 31] > 0).astype(int).tolist()      # Smiling = index 31
    assert ds.s.tolist() == (v[:, 39] > 0).astype(int).tolist()      # Young = index 39
    assert int(ds[3]["attrs"]["Male"]) == int(v[3, 20] > 0)
    check_batch(ds)


def test_celeba_txt_equals_csv_and_balanced_test(tmp_path):
    info = fx.write_celeba(tmp_path / "a", partitions=[0] * 4 + [1] * 4 + [2] * 12)
    a = read_celeba_attrs(info["anno"] / "list_attr_celeba.txt")
    b = read_celeba_attrs(fx.write_celeba_csv_from(info["values"], info["names"], tmp_path / "x.csv"))
    pd.testing.assert_frame_equal(a, b)
    assert a.columns[20] == "Male" and set(np.unique(a.values)) <= {0, 1}
    t = CelebA(tmp_path / "a", split="test", size=16)
    cells = t.table.groupby(["y", "s"]).size()
    assert len(cells) == 4 and cells.nunique() == 1 and len(t) == 4 * t.m_per_cell == 12
    assert t.table.path.tolist() == CelebA(tmp_path / "a", split="test", size=16).table.path.tolist()
    vm, vs = (set(CelebA(tmp_path / "a", split=s, size=16).table.path) for s in ("val_meta", "val_sel"))
    assert len(vm) == len(vs) == 2 and not vm & vs
    assert len(CelebA(tmp_path / "a", split="test", size=16, reproduce_reference_slices=True).table) <= 12


def test_celeba_errors(tmp_path):
    info = fx.write_celeba(tmp_path)
    f = info["anno"] / "list_attr_celeba.txt"
    lines = f.read_bytes().split(b"\r\n")
    lines[3] = b" ".join(lines[3].split()[:-1])      # 40 tokens on line 4
    f.write_bytes(b"\r\n".join(lines))
    with pytest.raises(DatasetFormatError, match=r"list_attr_celeba.txt, line 4.*41 tokens"):
        CelebA(tmp_path)
    with pytest.warns(UserWarning) as rec:
        assert len(CelebA(tmp_path, split="all", strict=False, size=16)) == 5
    assert any("skipped 1 malformed" in str(r.message) for r in rec)
    (tmp_path / "Eval" / "list_eval_partition.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="list_eval_partition"):
        CelebA(tmp_path)
    with pytest.raises(ValueError, match="Did you mean 'Attractive'"):
        fx.write_celeba(tmp_path / "b"); CelebA(tmp_path / "b", target="Atractive")


# ------------------------------------------------------------------------------------------------- images
def test_missing_folder_and_corrupt_images(tmp_path):
    for name in ("celeba", "fairface", "utkface", "bfw", "rfw", "bupt", "ms1mv2", "wider", "cifar100", "lfw"):
        with pytest.raises(DatasetNotFoundError, match="does not exist"):
            load_dataset(name, tmp_path / "nowhere")
    info = fx.write_celeba(tmp_path / "c")
    fx.truncate_file(info["img_dir"] / "000002.jpg")
    ds = CelebA(tmp_path / "c", split="train", size=16)
    with pytest.raises(DatasetFormatError, match=r"000002.jpg: expected a decodable image"):
        ds[1]
    with pytest.warns(UserWarning, match=r"skipped 1 corrupt or missing image"):
        ds2 = CelebA(tmp_path / "c", split="train", size=16, skip_corrupt=True)
    assert len(ds2) == 3 and ds2.n_corrupt == 1 and "000002.jpg" not in set(ds2.table.path)


# ------------------------------------------------------------------------------------------------- FairFace / UTKFace
def test_fairface(tmp_path):
    fx.write_fairface(tmp_path)
    tr, va = FairFace(tmp_path, "train", size=16), FairFace(tmp_path, "val", size=16, target="age", sensitive="race7")
    assert (len(tr), len(va)) == (4, 3)
    assert tr.table.age.tolist() == [6, 4, 8, 1] and tr.table.gender.tolist() == [0, 1, 1, 0]
    assert va.y.tolist() == [0, 3, 2] and va.s.tolist() == [0, 4, 6] and va.n_classes == 9
    check_batch(tr)
    p = real.read_fairface_predictions(fx.write_fairface_predictions(tmp_path / "pred.csv"))
    assert [len(v) for v in p.iloc[0][["race_scores_fair", "race_scores_fair_4", "gender_scores_fair", "age_scores_fair"]]] == [7, 4, 2, 9]
    f = tmp_path / "fairface_label_train.csv"
    f.write_text(f.read_text().replace("Indian", "Martian"))
    with pytest.raises(DatasetFormatError, match=r"fairface_label_train.csv, line 3"):
        FairFace(tmp_path)


def test_utkface(tmp_path):
    fx.write_utkface(tmp_path)
    with pytest.warns(UserWarning, match="skipped 1 file"):
        ds = UTKFace(tmp_path, split="all", size=16, target="age", sensitive="gender")
    parsed = sorted(zip(ds.table.age, ds.table.gender, ds.table.race))
    want = sorted(tuple(int(x) for x in n.split("_")[:3]) for n in fx.UTK_GOOD)
    assert parsed == want and ds.skipped_files[0].endswith(fx.UTK_BAD[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parts = [UTKFace(tmp_path, split=s) for s in ("train", "val", "test")]
        assert sum(map(len, parts)) == 6
        assert len(UTKFace(tmp_path, split="all", exclude_others=True)) == 5
        fx.write_utkface(tmp_path, "crop_part1")
        with pytest.raises(DatasetFormatError, match="variant"):
            UTKFace(tmp_path)
        assert len(UTKFace(tmp_path, split="all", variant="crop_part1")) == 6


# ------------------------------------------------------------------------------------------------- BFW / RFW
def test_bfw(tmp_path):
    path = fx.write_bfw(tmp_path)
    ds = BFW(tmp_path, size=16)
    assert len(ds) == 8 and len(ds.pairs) == 6 and ds.n_cross_group == 0
    assert set(ds.pairs.grp1) == {"AF", "WM"} and sorted(set(ds.s.tolist())) == [0, 7]
    for r in ds.pairs.itertuples():
        assert ds.table.path[r.i1] == r.p1 and ds.ids[r.i1] == r.id1 and ds.ids[r.i2] == r.id2
    check_batch(ds)
    meta = BFW(tmp_path, metadata_only=True)
    assert len(meta.pairs) == 6 and "vgg16" in meta.pairs
    # a row broken in the att/path check fails, naming its line
    good = pd.read_csv(path)
    df = good.copy()
    df.loc[4, "p1"] = "black_males/" + df.loc[4, "p1"].split("/", 1)[1]
    df.to_csv(tmp_path / "meta" / "broken.csv", index=False)
    with pytest.raises(DatasetFormatError, match=r"broken.csv, line 6: expected att1/att2 to be the first folder"):
        real.read_bfw_datatable(tmp_path / "meta" / "broken.csv")
    (tmp_path / "meta" / "broken.csv").unlink()
    # a missing image is named
    (tmp_path / "face-samples" / "white_males" / "n000101" / "0010_01.jpg").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"white_males/n000101/0010_01.jpg"):
        BFW(tmp_path)
    # pandas pickles are refused unless trusted
    path.unlink()
    fx.write_bfw(tmp_path / "pk", images=False).unlink()
    (tmp_path / "pk" / "meta" / "bfw-v0.1.5-datatable.pkl").write_bytes(pickle.dumps(good))
    with pytest.raises(UnsafePickleError, match="trust_pickle=True"):
        BFW(tmp_path / "pk", metadata_only=True)
    assert len(BFW(tmp_path / "pk", metadata_only=True, trust_pickle=True).pairs) == 6


def test_rfw_images_and_bin(tmp_path):
    ids = fx.write_rfw(tmp_path / "img", races=("African", "Asian", "Caucasian", "Indian"))
    ds = RFW(tmp_path / "img", fold_size=2, size=16)
    assert len(ds.pairs) == 16 and len(ds) == 4 * 6 and ds.n_classes == 12
    assert ds.pairs.groupby("grp1").label.sum().tolist() == [2] * 4
    assert ds.pairs.fold.tolist() == [0, 0, 1, 1] * 4
    r = ds.pairs.iloc[1]
    assert r.p2 == f"African/{ids['African'][1]}/{ids['African'][1]}_0002.jpg"
    check_batch(ds)
    pf = tmp_path / "img" / "test" / "txts" / "Asian" / "Asian_pairs.txt"
    assert read_rfw_pairs(pf, fold_size=2).shape[0] == 4                     # header skipped
    pf.write_text(pf.read_text() + "m.x\t1\tm.y\t2\t3\n")
    with pytest.raises(DatasetFormatError, match=r"Asian_pairs.txt, line 6: expected 3 tab-separated"):
        RFW(tmp_path / "img")
    for k, race in enumerate(("African", "Asian")):
        fx.write_bin(tmp_path / "bin" / f"{race}_test.bin", n_pairs=10, seed=10 * k, size=(16, 16))
    b = RFW(tmp_path / "bin", races=("African", "Asian"), size=16)
    assert b.form == "bin" and len(b) == 40 and b.pairs.fold.tolist() == list(range(10)) * 2
    assert b.s.tolist() == [0] * 20 + [1] * 20 and b.pairs.i1.tolist()[10] == 20


# ------------------------------------------------------------------------------------------------- .bin
def py2_bin(blobs, flags) -> bytes:
    "A protocol-2 pickle as Python 2 writes (bins, issame): images as BINSTRING (py2 str), flags as NEWTRUE/NEWFALSE."
    out = b"\x80\x02]("
    for b in blobs: out += b"T" + struct.pack("<I", len(b)) + b
    out += b"e]("
    for f in flags: out += b"\x88" if f else b"\x89"
    return out + b"e\x86."


def test_bin_flavours_agree(tmp_path):
    ref = None
    for proto in (2, 3, 4, 5):
        for flav in ("bytes", "numpy", "npbool"):
            blobs, iss = fx.write_bin(tmp_path / f"{proto}{flav}.bin", 4, proto, flav, seed=3, size=(24, 24))
            got = read_verification_bin(tmp_path / f"{proto}{flav}.bin")
            assert got[0] == blobs and got[1].tolist() == iss
            ref = ref or got
    (tmp_path / "py2.bin").write_bytes(py2_bin(ref[0], ref[1].tolist()))
    got = read_verification_bin(tmp_path / "py2.bin")
    assert got[0] == ref[0] and got[1].tolist() == ref[1].tolist()
    with open(tmp_path / "py2.bin", "rb") as f:                              # read as latin1 -> str -> re-encoded
        bins, _ = safe_pickle_load(f, encoding="latin1")
    assert isinstance(bins[0], str) and bins[0].encode("latin1") == ref[0][0]
    ds = load_dataset("lfw", tmp_path / "5npbool.bin", size=16)
    assert ds.pairs.i1.tolist() == [0, 2, 4, 6] and ds.pairs.label.tolist() == [1, 0, 1, 0]
    x = ds[0]["x"]
    assert x.shape == (3, 16, 16) and float(x.min()) >= -1 and float(x.max()) <= 1


def test_bin_format_errors(tmp_path):
    blobs = [fx.jpeg_bytes(i) for i in range(4)]
    cases = {"odd": (blobs[:3], [True, False]), "notuple": [blobs, [True, False], 1],
             "flag": (blobs, [True, "yes"]), "img": ([b"hello"] + blobs[1:], [True, False])}
    for name, obj in cases.items():
        (tmp_path / f"{name}.bin").write_bytes(pickle.dumps(obj, protocol=2))
        with pytest.raises(BinFormatError, match=f"{name}.bin"):
            read_verification_bin(tmp_path / f"{name}.bin")
    (tmp_path / "trunc.bin").write_bytes(pickle.dumps((blobs, [True, False]), protocol=2)[:50])
    with pytest.raises(DatasetFormatError, match="trunc.bin"):
        read_verification_bin(tmp_path / "trunc.bin")
    bad = blobs[:]; bad[1] = bad[1][:30]
    (tmp_path / "corrupt.bin").write_bytes(pickle.dumps((bad, [True, False]), protocol=2))
    with pytest.raises(DatasetFormatError, match=r"corrupt.bin, image 1"):
        VerificationBin(tmp_path / "corrupt.bin")[1]
    with pytest.raises(BinFormatError, match=r"corrupt.bin, image 1"):
        VerificationBin(tmp_path / "corrupt.bin", verify=True)
    with pytest.warns(UserWarning) as rec:
        ds = VerificationBin(tmp_path / "corrupt.bin", skip_corrupt=True)
    msgs = " | ".join(str(r.message) for r in rec)
    assert "dropped 1 pair" in msgs and "skipped 1 corrupt" in msgs and "corrupt.bin, image 1" in msgs
    assert len(ds) == 3 and ds.pairs.i1.tolist() == [1] and ds.pairs.i2.tolist() == [2]


@pytest.mark.parametrize("protocol", [2, 4])
def test_malicious_bin_is_refused(tmp_path, protocol):
    marker = tmp_path / "marker"
    payloads = {"posix.system": fx.RunsCommand(f"touch {marker}"),
                "eval": fx.CallsGlobal(eval, (f"open({str(marker)!r}, 'w')",)),
                "subprocess.Popen": fx.CallsGlobal(subprocess.Popen, (["touch", str(marker)],))}
    for needle, p in payloads.items():
        f = tmp_path / f"evil_{needle}.bin"
        f.write_bytes(pickle.dumps(([p, fx.jpeg_bytes(0)], [True]), protocol=protocol))
        with pytest.raises(UnsafePickleError, match=rf"refused global \S*{needle.split('.')[-1]}.* in .*evil_{needle}.bin"):
            VerificationBin(f)
        with pytest.raises(UnsafePickleError):
            load_dataset("lfw", f)
        assert not marker.exists(), f"{needle} payload ran"
    msg = ""
    try: read_verification_bin(tmp_path / "evil_posix.system.bin")
    except UnsafePickleError as e: msg = str(e)
    assert "posix.system" in msg or "nt.system" in msg


# ------------------------------------------------------------------------------------------------- RecordIO
def test_recordio_roundtrip(tmp_path):
    info = fx.write_recordio(tmp_path / "emore")
    rd = RecordIOReader(tmp_path / "emore" / "train.rec", tmp_path / "emore" / "train.idx")
    assert len(rd) == len(info["expect"])
    for k, (hdr, labels, img) in info["expect"].items():
        h, lab, im = rd.unpack(rd.read(k))
        assert tuple(h) == hdr and lab.tolist() == labels and im == img
    # key 2 was split (cflag 1 then 3), key 3 was not
    raw = (tmp_path / "emore" / "train.rec").read_bytes()
    cflag = lambda off: struct.unpack_from("<I", raw, off + 4)[0] >> 29
    assert cflag(info["offsets"][2]) == 1 and cflag(info["offsets"][3]) == 0
    assert rd.images() == list(range(1, info["L0"])) and len(rd.identity_ranges()) == info["L1"] - info["L0"]
    for c, (a, b) in rd.identity_ranges().items():
        assert all(int(rd.unpack(rd.read(k))[1][0]) == c for k in range(a, b))
    ds = MS1MV2(tmp_path, size=16)
    assert len(ds) == 6 and ds.n_classes == 3 and ds.y.tolist() == [0, 0, 1, 1, 2, 2]
    assert "mxnet" not in sys.modules


def test_recordio_errors(tmp_path):
    info = fx.write_recordio(tmp_path)
    raw = bytearray((tmp_path / "train.rec").read_bytes())
    off = info["offsets"][5]
    raw[off + 1] ^= 0x55
    (tmp_path / "train.rec").write_bytes(bytes(raw))
    rd = RecordIOReader(tmp_path / "train.rec", tmp_path / "train.idx")
    with pytest.raises(DatasetFormatError, match=rf"train.rec: bad magic .* at byte offset {off}"):
        rd.read(5)
    (tmp_path / "train.idx").write_text((tmp_path / "train.idx").read_text() + "7 x\n")
    with pytest.raises(DatasetFormatError, match=r"train.idx, line \d+: expected '<key>"):
        RecordIOReader(tmp_path / "train.rec", tmp_path / "train.idx")
    (tmp_path / "train.idx").unlink()
    with pytest.raises(DatasetNotFoundError, match="train.idx"):
        MS1MV2(tmp_path)


def test_recordio_without_identity_records(tmp_path):
    "The header promises identity records 7..9 that the .idx lacks: labels come from each image's own record."
    info = fx.write_recordio(tmp_path / "emore", identity_records=False)
    with pytest.warns(UserWarning, match=r"identity records .*7, 8, 9.* missing.*own record"):
        ds = MS1MV2(tmp_path, size=16)                  # was: KeyError: 'key 7 is not in …/train.idx'
    assert len(ds) == 6 and ds.n_classes == 3 and ds.y.tolist() == [0, 0, 1, 1, 2, 2]
    assert [int(ds[j]["y"]) for j in range(6)] == [0, 0, 1, 1, 2, 2]
    rd = RecordIOReader(tmp_path / "emore" / "train.rec", tmp_path / "emore" / "train.idx")
    assert rd.missing_identity_keys() == list(range(info["L0"], info["L1"])) and rd.missing_image_keys() == []
    with pytest.raises(DatasetFormatError, match=r"train.idx.*identity records.*7, 8, 9"):
        rd.identity_ranges()
    # the header-only read agrees with the full read, also for the split record (key 2) and the flag-3 record (key 5)
    for k in (1, 2, 3, 5):
        h, lab = rd.read_header(k)
        assert tuple(h) == info["expect"][k][0] and lab.tolist() == info["expect"][k][1]
    # identity records missing and an image record missing too: neither source of labels exists for key 4
    info = fx.write_recordio(tmp_path / "broken" / "emore", identity_records=False, drop_from_idx=(4,))
    with pytest.raises(DatasetFormatError, match=r"train.idx.*image record.*\b4\b"):
        MS1MV2(tmp_path / "broken", size=16)
    # identity records present but an image record missing: also an error naming the key, not a bare KeyError
    fx.write_recordio(tmp_path / "broken2" / "emore", drop_from_idx=(3,))
    with pytest.raises(DatasetFormatError, match=r"train.idx.*image record.*\b3\b"):
        MS1MV2(tmp_path / "broken2", size=16)


def test_recordio_without_header(tmp_path):
    "Record 0 with flag 0: every key is an image, each with its label in its own record (no identity records at all)."
    labels = [2, 0, 1, 0]
    payloads = [fx.ir_payload(0, float(c), k, 0, (), fx.jpeg_bytes(k, (20, 20))) for k, c in enumerate(labels)]
    payloads[3] = fx.ir_payload(2, 0.0, 3, 0, (0.0, 5.0), fx.jpeg_bytes(3, (20, 20)))     # flag 2: labels[0] is the class
    rec, offsets = bytearray(), []
    for p in payloads: offsets.append(len(rec)); rec += fx.frame_record(p)
    (tmp_path / "train.rec").write_bytes(bytes(rec))
    (tmp_path / "train.idx").write_text("".join(f"{k}\t{o}\n" for k, o in reversed(list(enumerate(offsets)))))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = MS1MV2(tmp_path, size=16)
    assert len(ds) == 4 and ds.y.tolist() == labels and ds.n_classes == 3
    assert [int(ds[j]["y"]) for j in range(4)] == labels


def test_workers_give_same_first_batch(tmp_path):
    fx.write_recordio(tmp_path / "r")
    fx.write_celeba(tmp_path / "c")
    for ds in (MS1MV2(tmp_path / "r", size=16, transform=real.face_transform(16)),
               CelebA(tmp_path / "c", split="all", size=16)):
        b0 = next(iter(DataLoader(ds, batch_size=3, num_workers=0)))
        b2 = next(iter(DataLoader(ds, batch_size=3, num_workers=2)))
        assert torch.equal(b0["x"], b2["x"]) and torch.equal(b0["y"], b2["y"]) and torch.equal(b0["idx"], b2["idx"])


# ------------------------------------------------------------------------------------------------- BUPT
def test_bupt(tmp_path):
    fx.write_bupt(tmp_path, races=("African", "Asian", "Caucasian", "Indian"), ids=("m.0aa", "m.0bb"))
    ds = BUPTBalancedFace(tmp_path, split="all", size=16)
    m = ds.manifest
    assert len(ds) == 16 and ds.n_classes == 8 and m.attrs["n_stray_files"] == 2
    assert m.groupby(["race", "identity"]).global_label.nunique().eq(1).all()
    assert m.global_label.nunique() == 8                                      # same folder name in 4 races -> 4 labels
    assert (ds.s == m.race_idx.to_numpy()).all()
    assert ds.manifest_hash == BUPTBalancedFace(tmp_path, split="all").manifest_hash
    parts = [BUPTBalancedFace(tmp_path, part=k, n_parts=2) for k in (0, 1)]
    assert [p.n_classes for p in parts] == [4, 4]
    assert not set(parts[0].table.rel_path) & set(parts[1].table.rel_path)
    assert all(sorted(set(p.s.tolist())) == [0, 1, 2, 3] for p in parts)
    v = BUPTBalancedFace(tmp_path, split="val", val_ids_per_race=1)
    t = BUPTBalancedFace(tmp_path, split="train", val_ids_per_race=1)
    assert len(v) == len(t) == 8 and not set(v.table.rel_path) & set(t.table.rel_path)
    check_batch(t)


# ------------------------------------------------------------------------------------------------- WIDER
def test_wider(tmp_path):
    fx.write_wider_files(tmp_path / "obj", test_per_scene=6)
    fx.write_wider_files(tmp_path / "lst", test_per_scene=6, bare_list=True)
    for name in ("wider_attribute_trainval.json", "wider_attribute_test.json"):
        pd.testing.assert_frame_equal(real.read_wider_json(tmp_path / "obj" / "Anno" / name),
                                      real.read_wider_json(tmp_path / "lst" / "Anno" / name))
    sp = {s: WIDERAttribute(tmp_path / "obj", split=s, size=16) for s in ("train", "val", "test")}
    assert len(sp["test"]) == 6 and sum(len(d) for d in sp.values()) == 3 + 12
    paths = [set(d.table.path) for d in sp.values()]
    assert not (paths[0] & paths[1] or paths[0] & paths[2] or paths[1] & paths[2])
    assert sp["test"].table.groupby("scene_id").size().tolist() == [3, 3]
    assert sp["test"].table.path.tolist() == WIDERAttribute(tmp_path / "obj", split="test").table.path.tolist()
    off = WIDERAttribute(tmp_path / "obj", split="test", split_mode="official")
    assert len(off) == 12
    check_batch(sp["train"])
    j = tmp_path / "obj" / "Anno" / "wider_attribute_trainval.json"
    import json
    obj = json.loads(j.read_text()); obj["images"][1]["targets"][0]["attribute"] = [1] * 13
    j.write_text(json.dumps(obj))
    with pytest.raises(DatasetFormatError, match=r"wider_attribute_trainval.json, line image #1 .*14 attribute values"):
        WIDERAttribute(tmp_path / "obj")
    j.unlink()
    with pytest.raises(DatasetNotFoundError, match="wider_attribute_trainval.json"):
        WIDERAttribute(tmp_path / "obj")


# ------------------------------------------------------------------------------------------------- CIFAR-100
def test_cifar100(tmp_path):
    cf = fx.write_cifar100(tmp_path)
    for split, n in (("train", 10), ("test", 4)):
        ds = CIFAR100(tmp_path, split)
        assert len(ds) == n and ds.y.tolist() == cf[split]["fine_labels"]
        assert ds.attrs["coarse"].tolist() == cf[split]["coarse_labels"]
        d = cf[split]["data"]
        assert tuple(ds.images[0, 0, 0]) == (d[0, 0], d[0, 1024], d[0, 2048])
        assert tuple(ds.images[0, 5, 7]) == (d[0, 5 * 32 + 7], d[0, 1024 + 5 * 32 + 7], d[0, 2048 + 5 * 32 + 7])
    assert ds.classes[0] == "fine_00" and len(ds.coarse_classes) == 20
    check_batch(ds)
    with pytest.raises(DatasetFormatError, match="md5"):
        CIFAR100(tmp_path, backend="torchvision")
    (tmp_path / "cifar-100-python" / "meta").unlink()
    with pytest.raises(DatasetNotFoundError, match="meta"):
        CIFAR100(tmp_path)


def test_load_dataset_names(tmp_path):
    with pytest.raises(ValueError, match="Did you mean 'utkface'"):
        load_dataset("utkfac", tmp_path)
    with pytest.raises(ValueError, match="SynthFaces"):
        load_dataset("synth", "")
    with pytest.raises(DatasetNotFoundError, match="data_root"):
        load_dataset("bfw", "")
    fx.write_cifar100(tmp_path)
    assert isinstance(load_dataset("CIFAR-100", tmp_path, "test"), CIFAR100)

"""Independent writers of tiny fixtures in the real on-disk formats of the datasets read by `fairkd_nb.data.real`.

Nothing here imports the loaders: RecordIO records are framed with `struct` by hand, `.bin` and CIFAR files are
written with the standard pickler, text annotations are written as plain strings (CRLF where the real files use it).
Used by `tests/test_loaders.py` and by the inline tests of `nbs/02_datasets.ipynb`.
"""
from __future__ import annotations
import io, json, os, pickle, random, struct
from pathlib import Path

import numpy as np
from PIL import Image

CELEBA_ATTRS = ("5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
                "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
                "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
                "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
                "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young").split()


def jpeg_bytes(seed: int, size=(20, 24), fmt="JPEG") -> bytes:
    "A small deterministic RGB image, encoded."
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def write_image(path: Path, seed: int, size=(20, 24)) -> Path:
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg_bytes(seed, size))
    return path


def truncate_file(path: Path, keep: int = 40) -> None:
    "Cut a file after `keep` bytes (a truncated JPEG)."
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[:keep])


# ---------------------------------------------------------------- CelebA
def celeba_values(n: int, seed: int = 0) -> np.ndarray:
    "±1 attribute matrix [n, 40]; Attractive (2) and Male (20) cycle through the 4 (y, s) cells."
    rng = np.random.default_rng(seed)
    v = rng.choice([-1, 1], size=(n, 40))
    for i in range(n):
        v[i, 2] = 1 if (i // 2) % 2 else -1
        v[i, 20] = 1 if i % 2 else -1
    return v


def write_celeba(root: Path, partitions=(0, 0, 0, 0, 1, 2), layout: str = "official", images: bool = True,
                 identities: bool = True, seed: int = 0) -> dict:
    """CelebA fixture. layout 'official' (Img/, Anno/, Eval/, CRLF txt, trailing-space header, double-space
    alignment), 'torchvision' (flat celeba/) or 'kaggle' (CSV, images nested twice)."""
    root = Path(root)
    n = len(partitions)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    vals = celeba_values(n, seed)
    if layout == "official":
        img_dir, anno, ev = root / "Img" / "img_align_celeba", root / "Anno", root / "Eval"
    elif layout == "torchvision":
        img_dir = root / "celeba" / "img_align_celeba"; anno = ev = root / "celeba"
    elif layout == "kaggle":
        img_dir = root / "img_align_celeba" / "img_align_celeba"; anno = ev = root
    else:
        raise ValueError(layout)
    anno.mkdir(parents=True, exist_ok=True); ev.mkdir(parents=True, exist_ok=True)
    if images:
        for i, nm in enumerate(names): write_image(img_dir / nm, seed * 1000 + i, (17, 21))
    if layout == "kaggle":
        lines = ["image_id," + ",".join(CELEBA_ATTRS)] + [nm + "," + ",".join(str(x) for x in row) for nm, row in zip(names, vals)]
        (anno / "list_attr_celeba.csv").write_text("\n".join(lines) + "\n")
        lines = ["image_id,partition"] + [f"{nm},{p}" for nm, p in zip(names, partitions)]
        (ev / "list_eval_partition.csv").write_text("\n".join(lines) + "\n")
    else:
        lines = [str(n), " ".join(CELEBA_ATTRS) + " "]
        for nm, row in zip(names, vals):
            # space-aligned values: positive values get an extra leading space, as in the real file
            lines.append(nm + "".join(("  1" if x == 1 else " -1") for x in row))
        (anno / "list_attr_celeba.txt").write_bytes(("\r\n".join(lines) + "\r\n").encode())
        (ev / "list_eval_partition.txt").write_bytes(("\r\n".join(f"{nm} {p}" for nm, p in zip(names, partitions)) + "\r\n").encode())
        if identities:
            (anno / "identity_CelebA.txt").write_bytes(("\r\n".join(f"{nm} {100 + i % 3}" for i, nm in enumerate(names)) + "\r\n").encode())
    return {"names": names, "values": vals, "partitions": list(partitions), "img_dir": img_dir, "anno": anno}


def write_celeba_csv_from(values, names, path: Path) -> Path:
    lines = ["image_id," + ",".join(CELEBA_ATTRS)] + [nm + "," + ",".join(str(x) for x in row) for nm, row in zip(names, values)]
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


# ---------------------------------------------------------------- FairFace
FAIRFACE_ROWS_TRAIN = [
    ("train/1.jpg", "50-59", "Male", "East Asian", "True"),
    ("train/2.jpg", "30-39", "Female", "Indian", "False"),
    ("train/3.jpg", "more than 70", "Female", "Black", "False"),
    ("train/4.jpg", "3-9", "Male", "Latino_Hispanic", "True"),
]
FAIRFACE_ROWS_VAL = [
    ("val/1.jpg", "0-2", "Male", "White", "False"),
    ("val/2.jpg", "20-29", "Female", "Southeast Asian", "True"),
    ("val/3.jpg", "10-19", "Male", "Middle Eastern", "False"),
]


def write_fairface(root: Path) -> None:
    root = Path(root)
    for fname, rows in (("fairface_label_train.csv", FAIRFACE_ROWS_TRAIN), ("fairface_label_val.csv", FAIRFACE_ROWS_VAL)):
        lines = ["file,age,gender,race,service_test"] + [",".join(r) for r in rows]
        (root / fname).parent.mkdir(parents=True, exist_ok=True)
        (root / fname).write_text("\n".join(lines) + "\n")
        for k, r in enumerate(rows): write_image(root / r[0], 500 + k + 10 * len(fname), (22, 22))


def write_fairface_predictions(path: Path) -> Path:
    txt = ('face_name_align,race,race4,gender,age,race_scores_fair,race_scores_fair_4,gender_scores_fair,age_scores_fair\n'
           'detected_faces/img001_face0.jpg,White,White,Male,70+,"[0.91 0.02 0.01 0.01\n 0.01 0.02 0.02]",'
           '"[0.9 0.05 0.03 0.02]","[0.8 0.2]","[0. 0. 0. 0. 0. 0. 0.1 0.2 0.7]"\n'
           'detected_faces/img002_face1.jpg,Indian,Indian,Female,20-29,"[0.01 0.01 0.01 0.01 0.01 0.94 0.01]",'
           '"[0.02 0.02 0.02 0.94]","[0.3 0.7]","[0. 0. 0. 0.9 0.1 0. 0. 0. 0.]"\n')
    Path(path).write_text(txt)
    return Path(path)


# ---------------------------------------------------------------- UTKFace
UTK_GOOD = ["25_0_0_20170116174525125.jpg.chip.jpg", "31_1_1_20170116174525126.jpg.chip.jpg",
            "4_0_2_20170116174525127.jpg.chip.jpg", "70_1_3_20170116174525128.jpg.chip.jpg",
            "116_0_4_20170116174525129.jpg.chip.jpg", "0_1_0_20170116174525130.jpg.chip.jpg"]
UTK_BAD = ["39_1_20170116174525125.jpg.chip.jpg"]


def write_utkface(root: Path, folder="UTKFace") -> Path:
    d = Path(root) / folder
    for k, nm in enumerate(UTK_GOOD + UTK_BAD): write_image(d / nm, 700 + k, (20, 20))
    return d


# ---------------------------------------------------------------- BFW
BFW_COLS = ["ID", "fold", "p1", "p2", "label", "id1", "id2", "att1", "att2", "vgg16", "resnet50", "senet50",
            "a1", "a2", "g1", "g2", "e1", "e2"]


def write_bfw(root: Path, images: bool = True, version="v0.1.5") -> Path:
    """BFW fixture: 2 subgroups (asian_females, white_males) × 2 subjects × 2 images; a 6-row datatable with a
    leading unnamed index column, shuffled column order and no `sphereface` score column."""
    root = Path(root)
    subs = {("asian_females", "AF", "A", "F"): ["n000009", "n000010"], ("white_males", "WM", "W", "M"): ["n000100", "n000101"]}
    ids = {"n000009": 0, "n000010": 1, "n000100": 2, "n000101": 3}
    info = {}
    k = 0
    for (att, a, e, g), subjects in subs.items():
        for s in subjects:
            for f in ("0010_01.jpg", "0011_02.jpg"):
                rel = f"{att}/{s}/{f}"
                info[rel] = (ids[s], att, a, e, g)
                if images: write_image(root / "face-samples" / rel, 900 + k, (16, 16))
                k += 1
    pairs = [("asian_females/n000009/0010_01.jpg", "asian_females/n000009/0011_02.jpg", 1, 1),
             ("asian_females/n000010/0010_01.jpg", "asian_females/n000010/0011_02.jpg", 1, 2),
             ("asian_females/n000009/0010_01.jpg", "asian_females/n000010/0011_02.jpg", 0, 3),
             ("white_males/n000100/0010_01.jpg", "white_males/n000100/0011_02.jpg", 1, 4),
             ("white_males/n000101/0010_01.jpg", "white_males/n000101/0011_02.jpg", 1, 5),
             ("white_males/n000100/0011_02.jpg", "white_males/n000101/0010_01.jpg", 0, 1)]
    rows = []
    for r, (p1, p2, lab, fold) in enumerate(pairs):
        i1, i2 = info[p1], info[p2]
        rows.append({"ID": r, "fold": fold, "p1": p1, "p2": p2, "label": lab, "id1": i1[0], "id2": i2[0],
                     "att1": i1[1], "att2": i2[1], "vgg16": 0.5 + 0.1 * lab, "resnet50": 0.4, "senet50": 0.3,
                     "a1": i1[2], "a2": i2[2], "g1": i1[4], "g2": i2[4], "e1": i1[3], "e2": i2[3]})
    cols = BFW_COLS[:]
    random.Random(3).shuffle(cols)
    lines = ["," + ",".join(cols)] + [f"{r}," + ",".join(str(row[c]) for c in cols) for r, row in enumerate(rows)]
    meta = root / "meta"; meta.mkdir(parents=True, exist_ok=True)
    path = meta / f"bfw-{version}-datatable.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------- RFW
def write_rfw(root: Path, races=("African", "Asian"), header: bool = True) -> dict:
    """RFW fixture: per race 3 ids × 2 images; pairs file with 2 folds × (1 genuine + 1 impostor), tab-separated."""
    root = Path(root)
    out = {}
    for r_i, race in enumerate(races):
        ids = [f"m.0{race[:2].lower()}{k}x" for k in range(3)]
        for k, mid in enumerate(ids):
            for n in (1, 2):
                write_image(root / "test" / "data" / race / mid / f"{mid}_{n:04d}.jpg", 1200 + 10 * r_i + 2 * k + n, (18, 18))
        lines = (["10\t300"] if header else []) + [
            f"{ids[0]}\t1\t2", f"{ids[0]}\t1\t{ids[1]}\t2",      # fold 0: genuine, impostor
            f"{ids[2]}\t1\t2", f"{ids[1]}\t1\t{ids[2]}\t2"]      # fold 1
        t = root / "test" / "txts" / race; t.mkdir(parents=True, exist_ok=True)
        (t / f"{race}_pairs.txt").write_text("\n".join(lines) + "\n")
        out[race] = ids
    return out


# ---------------------------------------------------------------- insightface .bin
def write_bin(path: Path, n_pairs: int = 3, protocol: int = 2, flavour: str = "bytes", seed: int = 0, size=(112, 112)):
    """A verification `.bin`: pickle of (bins, issame). flavour: 'bytes' (raw bytes, Python bool flags),
    'numpy' (cv2.imencode-style uint8 arrays of shape (L, 1)), 'npbool' (bytes images, numpy.bool_ flags)."""
    blobs = [jpeg_bytes(seed + i, size) for i in range(2 * n_pairs)]
    issame = [bool(k % 2 == 0) for k in range(n_pairs)]
    bins = blobs
    if flavour == "numpy": bins = [np.frombuffer(b, np.uint8).reshape(-1, 1).copy() for b in blobs]
    flags = [np.bool_(v) for v in issame] if flavour == "npbool" else issame
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f: pickle.dump((bins, flags), f, protocol=protocol)
    return blobs, issame


class RunsCommand:
    "A pickle payload whose reduce calls `os.system(cmd)` (pickled as `posix.system`)."
    def __init__(self, cmd): self.cmd = cmd
    def __reduce__(self): return (os.system, (self.cmd,))


class CallsGlobal:
    "A pickle payload whose reduce calls an arbitrary callable."
    def __init__(self, fn, args): self.fn, self.args = fn, args
    def __reduce__(self): return (self.fn, self.args)


def write_malicious_bin(path: Path, marker: Path, protocol: int = 2) -> None:
    blobs = [jpeg_bytes(1), jpeg_bytes(2)]
    with open(path, "wb") as f: pickle.dump(([RunsCommand(f"touch {marker}")] + blobs[1:], [True]), f, protocol=protocol)


# ---------------------------------------------------------------- RecordIO (written by hand, no mxnet)
MAGIC = 0xCED7230A
MAGIC_BYTES = struct.pack("<I", MAGIC)


def _frame(cflag: int, data: bytes) -> bytes:
    n = len(data)
    return struct.pack("<II", MAGIC, (cflag << 29) | n) + data + b"\x00" * ((4 - n % 4) % 4)


def frame_record(payload: bytes) -> bytes:
    "dmlc RecordIO framing: split the payload at every 4-aligned occurrence of the magic word (dropping it)."
    parts, start = [], 0
    for off in range(0, len(payload) - 3, 4):
        if payload[off:off + 4] == MAGIC_BYTES:
            parts.append(payload[start:off]); start = off + 4
    parts.append(payload[start:])
    if len(parts) == 1: return _frame(0, parts[0])
    out = _frame(1, parts[0])
    for p in parts[1:-1]: out += _frame(2, p)
    return out + _frame(3, parts[-1])


def ir_payload(flag: int, label: float, id_: int, id2: int, labels=(), img: bytes = b"") -> bytes:
    assert flag == len(labels)
    return struct.pack("<IfQQ", flag, label if flag == 0 else 0.0, id_, id2) + struct.pack(f"<{flag}f", *labels) + img


def write_recordio(folder: Path, seed: int = 0, identity_records: bool = True, drop_from_idx=()) -> dict:
    """insightface-style RecordIO: header record 0 (flag 2, [L0, L1]), 3 identities × 2 images (keys 1..6),
    identity records (keys 7..9). Image key 2 carries the magic word at a 4-aligned offset of its payload
    (forcing a cflag 1/3 split), key 3 at an unaligned offset (no split); key 5 has an IRHeader with flag 3.
    `identity_records=False`: the header still promises keys 7..9, but they are written neither to the .rec nor
    to the .idx (as in some re-packed training sets); `drop_from_idx`: keys left out of the .idx only."""
    folder = Path(folder); folder.mkdir(parents=True, exist_ok=True)
    n_id, per = 3, 2
    L0 = 1 + n_id * per; L1 = L0 + n_id
    payloads = {0: ir_payload(2, 0.0, 0, 0, (float(L0), float(L1)))}
    expect = {0: ((2, 0.0, 0, 0), [float(L0), float(L1)], b"")}
    key = 1
    for c in range(n_id):
        for j in range(per):
            img = jpeg_bytes(seed + key, (112, 112))
            if key == 2:  # header 24 bytes (aligned) -> put magic at payload offset 24+8 = 32 (aligned)
                img = img[:8] + MAGIC_BYTES + img[8:]
            if key == 3:  # unaligned: payload offset 24+6 = 30
                img = img[:6] + MAGIC_BYTES + img[6:]
            if key == 5:
                p = ir_payload(3, 0.0, key, 0, (float(c), 7.0, 9.5), img)
                expect[key] = ((3, 0.0, key, 0), [float(c), 7.0, 9.5], img)
            else:
                p = ir_payload(0, float(c), key, 0, (), img)
                expect[key] = ((0, float(c), key, 0), [float(c)], img)
            payloads[key] = p; key += 1
    for c in range(n_id if identity_records else 0):
        a, b = 1 + c * per, 1 + (c + 1) * per
        payloads[L0 + c] = ir_payload(2, 0.0, L0 + c, 0, (float(a), float(b)))
        expect[L0 + c] = ((2, 0.0, L0 + c, 0), [float(a), float(b)], b"")
    rec = bytearray(); offsets = {}
    for k in sorted(payloads):
        offsets[k] = len(rec); rec += frame_record(payloads[k])
    (folder / "train.rec").write_bytes(bytes(rec))
    keys = sorted(set(offsets) - set(drop_from_idx)); random.Random(seed).shuffle(keys)
    (folder / "train.idx").write_text("".join(f"{k}\t{offsets[k]}\n" for k in keys))
    (folder / "property").write_text(f"{n_id},112,112")
    return {"expect": expect, "offsets": offsets, "L0": L0, "L1": L1, "n_ids": n_id}


# ---------------------------------------------------------------- BUPT
def write_bupt(root: Path, races=("African", "Asian"), ids=("m.0aa", "m.0bb"), per=2) -> Path:
    root = Path(root)
    k = 0
    for race in races:
        for mid in ids:
            for j in range(per):
                write_image(root / race / mid / f"{j:02d}_x.jpg", 1500 + k, (14, 14)); k += 1
    (root / races[0] / "readme.txt").write_text("not an image")
    (root / races[0] / ids[0] / "Thumbs.db").write_bytes(b"\x00\x01")
    return root


# ---------------------------------------------------------------- WIDER Attribute
def wider_images() -> list:
    def person(bbox, male): return {"bbox": bbox, "attribute": [male] + [1, -1, 0] * 4 + [1]}
    return [
        {"file_name": "train/0--Parade/0_Parade_marchingband_1_5.jpg", "scene_id": 0,
         "targets": [person([-3.5, 2.0, 10.0, 12.0], 1), person([1, 1, 5, 5], -1), person([2, 2, 4, 4], 1)]},
        {"file_name": "train/0--Parade/0_Parade_Parade_0_9.jpg", "scene_id": 0,
         "targets": [person([1, 1, 5, 5], 0), person([1, 1, 5, 5], -1)]},
        {"file_name": "val/19--Couple/19_Couple_Couple_19_1.jpg", "scene_id": 10,
         "targets": [person([1, 1, 5, 5], 1), person([1, 1, 5, 5], 0)]},
    ]


WIDER_ATTR_NAMES = ["Male", "longHair", "sunglass", "Hat", "Tshirt", "longSleeve", "formal", "shorts", "jeans",
                    "longPants", "skirt", "faceMask", "logo", "stripe"]


def write_wider_files(root: Path, test_per_scene: int = 4, bare_list: bool = False) -> dict:
    root = Path(root)
    trainval = wider_images()
    test = []
    for scene, folder in ((0, "0--Parade"), (10, "19--Couple")):
        for k in range(test_per_scene):
            male = 1 if k % 2 else -1
            test.append({"file_name": f"test/{folder}/{folder.split('--')[1]}_{k}.jpg", "scene_id": scene,
                         "targets": [{"bbox": [0, 0, 4, 4], "attribute": [male] + [0] * 13}]})
    anno = root / "Anno"; anno.mkdir(parents=True, exist_ok=True)
    for name, imgs in (("wider_attribute_trainval.json", trainval), ("wider_attribute_test.json", test)):
        obj = imgs if bare_list else {"images": imgs,
                                      "attribute_id_map": {str(i): n for i, n in enumerate(WIDER_ATTR_NAMES)},
                                      "scene_id_map": {"0": "Parade", "10": "Couple"}}
        (anno / name).write_text(json.dumps(obj))
    for k, im in enumerate(trainval + test): write_image(root / "Image" / im["file_name"], 1700 + k, (24, 16))
    return {"trainval": trainval, "test": test}


# ---------------------------------------------------------------- CIFAR-100
def write_cifar100(root: Path, n_train: int = 10, n_test: int = 4, seed: int = 0) -> dict:
    d = Path(root) / "cifar-100-python"; d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        fine = [int(v) for v in rng.integers(0, 100, n)]; coarse = [f % 20 for f in fine]
        obj = {"filenames": [f"img_{i}.png" for i in range(n)], "batch_label": f"{split} batch 1 of 1",
               "fine_labels": fine, "coarse_labels": coarse, "data": data}
        with open(d / split, "wb") as f: pickle.dump(obj, f, protocol=2)
        out[split] = obj
    meta = {"fine_label_names": [f"fine_{i:02d}" for i in range(100)],
            "coarse_label_names": [f"coarse_{i:02d}" for i in range(20)]}
    with open(d / "meta", "wb") as f: pickle.dump(meta, f, protocol=2)
    out["meta"] = meta
    return out

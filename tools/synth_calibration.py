"""Run the SynthFaces calibration (synthfaces.md §6) seed by seed, and merge the results.

    python tools/synth_calibration.py run --seeds 0 --out /tmp/cal0.json     # one process per seed, in parallel
    python tools/synth_calibration.py merge /tmp/cal0.json /tmp/cal1.json /tmp/cal2.json --out data/synth_calibration.json

The functions are those of nbs/01_synth.ipynb (fairkd_nb.data.synth.calibration_*); `nbs/01_synth.ipynb` shows the
merged file as its recorded calibration table."""
import argparse, json, platform, subprocess, sys, time
from pathlib import Path

def run(seeds, out, parts):
    import torch
    torch.set_num_threads(1)
    from fairkd_nb.data import synth as S
    res = {"ident": {}, "attr": {}, "other": {}, "seconds": {}}
    for seed in seeds:
        if "identity" in parts:
            t = time.time(); res["ident"][str(seed)] = S.calibration_identity(seed); res["seconds"][f"identity/{seed}"] = time.time() - t
        if "attribute" in parts:
            for rho in (0.5, 0.9):
                res["attr"][f"{seed},{rho}"] = S.calibration_attribute(seed, rho)
        if "other" in parts and seed == 0:
            res["other"]["multiclass"] = S.calibration_task("multiclass", 0, 4800)
            res["other"]["generation group"] = S.calibration_task("generation", 0, 4000, group_props=(0.25,) * 4)
        print(f"seed {seed} done", flush=True)
    from fairkd_nb.core import atomic_write_json
    atomic_write_json(out, res)

def merge(files, out, commit=None):
    from fairkd_nb.core import atomic_write_json
    from fairkd_nb.data import synth as S
    res = {"ident": {}, "attr": {}, "other": {}, "seconds": {}}
    for f in files:
        r = json.loads(Path(f).read_text())
        for k in res: res[k].update(r.get(k, {}))
    commit = commit or subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    res["meta"] = dict(commit=commit, date=time.strftime("%Y-%m-%d"), machine=platform.processor() or platform.machine(),
                       calibration=S.CALIBRATION, config=S.SynthConfig().to_dict())
    atomic_write_json(out, res)
    print(load_properties(out).to_string())

def load_properties(path):
    "The properties table of a merged calibration file."
    from fairkd_nb.data.synth import calibration_properties, read_calibration
    ident, attr, other, _ = read_calibration(path)
    return calibration_properties(ident, attr, other)

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("run"); a.add_argument("--seeds", default="0"); a.add_argument("--out", required=True)
    a.add_argument("--parts", default="identity,attribute,other")
    b = sub.add_parser("merge"); b.add_argument("files", nargs="+"); b.add_argument("--out", required=True)
    b.add_argument("--commit", default=None, help="commit the runs were made with (default: HEAD)")
    args = ap.parse_args()
    if args.cmd == "run": run([int(s) for s in args.seeds.split(",")], args.out, args.parts.split(","))
    else: merge(args.files, args.out, args.commit)

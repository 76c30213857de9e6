"""Give every notebook in nbs/ the python3 kernelspec (papermill needs one to run a notebook).

Usage: python tools/set_kernelspec.py [notebook ...]   (default: all notebooks in nbs/)
"""
import json, sys
from pathlib import Path

KS = {"display_name": "python3", "language": "python", "name": "python3"}
root = Path(__file__).resolve().parents[1]
paths = [Path(p).resolve() for p in sys.argv[1:]] or sorted((root / "nbs").rglob("*.ipynb"))
for p in paths:
    if any(part.startswith((".", "_")) for part in p.relative_to(root).parts[1:-1]): continue
    nb = json.loads(p.read_text())
    if nb.get("metadata", {}).get("kernelspec", {}).get("name"): continue
    nb.setdefault("metadata", {})["kernelspec"] = KS
    p.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    print(f"kernelspec set: {p.relative_to(root)}")

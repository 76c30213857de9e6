"""Write README.md from nbs/index.ipynb (markdown cells verbatim, code cells as python blocks).

nbdev's own `nbdev-readme` needs Quarto, which the kit does not install; this keeps README.md in sync without it.
`python tools/make_readme.py --check` exits 1 when README.md is out of date.
"""
import json, sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]

def render(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text())
    parts = ["<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->"]
    for c in nb["cells"]:
        src = "".join(c["source"]).strip("\n")
        if not src or src.startswith("#| hide"): continue
        if c["cell_type"] == "markdown": parts.append(src)
        elif c["cell_type"] == "code":
            lines = [l for l in src.splitlines() if not l.startswith("#|")]
            if lines: parts.append("```python\n" + "\n".join(lines) + "\n```")
    return "\n\n".join(parts) + "\n"

if __name__ == "__main__":
    text = render(root / "nbs" / "index.ipynb")
    out = root / "README.md"
    if "--check" in sys.argv:
        if not out.exists() or out.read_text() != text:
            print("README.md is out of date with nbs/index.ipynb: run `python tools/make_readme.py`.", file=sys.stderr)
            sys.exit(1)
        print("README.md in sync with nbs/index.ipynb.")
    else:
        tmp = out.with_suffix(".md.tmp"); tmp.write_text(text); tmp.replace(out)
        print(f"wrote {out}")

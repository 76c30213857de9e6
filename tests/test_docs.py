"""The documentation site (tools/build_docs.py, `make docs`): pages, navigation, embedded figures, local links.

Two builds, both into tmp_path:
- `site`: the real nbs/. Every notebook gets a page; to keep `make test` near its time budget, only a sample of
  notebooks is *executed* (index, a library notebook with figures and `#| slow` cells, the plotting notebook; see
  DOCS_SAMPLE — the tutorial's widgets are covered by the mini site and tests/test_browser.py); the others are rendered from their source (a banner says so). FAIRKD_DOCS_FULL=1
  executes every notebook, as `make docs` does (benchmarks/docs_build.md has the timings).
- `mini`: a handful of small notebooks written here (a figure, a markdown image, `#| hide`/`#| echo: false`/
  `#| slow` cells, a link to another notebook, an ipywidgets explorer, a subfolder, an `_`-folder to skip, a
  notebook that raises), to check the builder's rules on known content.

On every page: the navigation lists every notebook and its links resolve; no `src`/`href` points at a missing
local file; every image output of the executed notebook (cell outputs of shown cells and the outputs of the Output
widgets they display) is embedded as a data URI, checked payload by payload.
"""
import base64, html.parser, json, os, re, subprocess, sys, time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "build_docs.py"
DOCS_SAMPLE = ["index", "01_synth", "09_viz"]   # the tutorial runs in test_tutorial and test_browser already


def notebooks(nbs: Path) -> list[str]:
    "Notebooks the site must have: every .ipynb under nbs/ except in folders (or files) starting with _ or ."
    return sorted(p.relative_to(nbs).as_posix() for p in nbs.rglob("*.ipynb")
                  if not any(part.startswith(("_", ".")) for part in p.relative_to(nbs).parts))


def page_path(rel: str) -> str:
    return rel[:-len(".ipynb")] + ".html"


def run_build(out: Path, *args, nbs: Path | None = None, timeout: int = 1500) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("IN_TEST",)}
    env.setdefault("OMP_NUM_THREADS", "1")
    cmd = [sys.executable, str(TOOL), "--out", str(out), *args]
    if nbs is not None: cmd += ["--nbs", str(nbs)]
    t0 = time.time()
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    r.seconds = time.time() - t0
    return r


class Links(html.parser.HTMLParser):
    "Collects (tag, attribute, value) of every href/src, and the hrefs inside <nav class=fairkd-nav>."
    def __init__(self):
        super().__init__(); self.refs, self.nav, self._in_nav = [], [], 0
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "nav" and "fairkd-nav" in (a.get("class") or ""): self._in_nav += 1
        for k in ("href", "src"):
            if a.get(k) is not None:
                self.refs.append((tag, k, a[k]))
                if self._in_nav and tag == "a" and k == "href": self.nav.append(a[k])
    def handle_endtag(self, tag):
        if tag == "nav" and self._in_nav: self._in_nav -= 1


def plain(page: str) -> str:
    "The text of an HTML page (tags removed, entities decoded): code is split into highlighting spans."
    import html as _html
    return _html.unescape(re.sub(r"<[^>]+>", "", page))


def is_local(url: str) -> bool:
    return not re.match(r"^([a-z][a-z0-9+.-]*:|//|#)", url, re.I) and url != ""


_re_dir = re.compile(r"^\s*#\s*\|\s*([\w-]+)\s*:?\s*(.*?)\s*$")


def _directives(src: str) -> dict:
    out = {}
    for line in src.splitlines():
        m = _re_dir.match(line)
        if not m: break
        out[m.group(1)] = m.group(2)
    return out


def image_payloads(nb: dict) -> list[str]:
    """Base64 payloads of every image a reader should see: outputs of cells the page shows, and the outputs of
    the Output widgets inside the widgets those cells display (unless the widget's bundle has its own picture)."""
    state = nb.get("metadata", {}).get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    models = state.get("state", {}) if isinstance(state, dict) else {}
    out = []

    def from_outputs(outputs, seen):
        for o in outputs:
            data = o.get("data", {})
            for mime in ("image/png", "image/jpeg"):
                if mime in data:
                    v = data[mime]; out.append("".join(v) if isinstance(v, list) else v)
            view = data.get("application/vnd.jupyter.widget-view+json")
            # a widget bundle with its own static picture shows that picture; otherwise its Output widgets'
            static = {"image/png", "image/jpeg", "image/svg+xml", "text/html"} & set(data)
            if view and not static: walk(view.get("model_id"), seen)

    def walk(mid, seen):
        if not mid or mid in seen or mid not in models: return
        seen.add(mid)
        st = models[mid].get("state", {})
        if models[mid].get("model_name") == "OutputModel": from_outputs(st.get("outputs", []), seen)
        for v in st.values():
            for ref in (v if isinstance(v, list) else [v]):
                if isinstance(ref, str) and ref.startswith("IPY_MODEL_"): walk(ref[len("IPY_MODEL_"):], seen)

    for c in nb["cells"]:
        if c["cell_type"] != "code": continue
        src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        d = _directives(src)
        if "hide" in d or "default_exp" in d or d.get("include") == "false" or d.get("output") == "false": continue
        from_outputs(c.get("outputs", []), set())
    return out


def check_site(out: Path, nbs: Path, executed_expected: set[str] | None = None) -> dict:
    "The checks every site must pass; returns {notebook: number of images checked}."
    rels = notebooks(nbs)
    assert (out / "index.html").exists(), "no index.html"
    images = {}
    for rel in rels:
        page = out / page_path(rel)
        assert page.exists(), f"{rel}: no page {page_path(rel)}"
        text = page.read_text(encoding="utf-8")
        p = Links(); p.feed(text)
        # navigation: every notebook listed, every link an existing page
        targets = {os.path.normpath(os.path.join(os.path.dirname(page_path(rel)), h)).replace(os.sep, "/")
                   for h in p.nav}
        assert {page_path(r) for r in rels} <= targets, \
            f"{rel}: navigation misses {sorted({page_path(r) for r in rels} - targets)}"
        for h in p.nav:
            assert is_local(h) and (page.parent / h).resolve().is_file(), f"{rel}: nav link {h!r} does not resolve"
        # no reference to a local file that is not there
        for tag, attr, url in p.refs:
            if not is_local(url): continue
            path = url.split("#")[0].split("?")[0]
            if not path: continue
            assert (page.parent / path).resolve().exists(), f"{rel}: <{tag} {attr}={url!r}> points at a missing file"
        # figures: every image of the executed notebook, embedded as a data URI
        ex = out / "_build" / "executed" / rel
        if executed_expected is not None and rel in executed_expected:
            assert ex.exists(), f"{rel}: not executed"
        if ex.exists() and (executed_expected is None or rel in executed_expected):
            nb = json.loads(ex.read_text())
            pay = image_payloads(nb)
            for i, b64 in enumerate(pay):
                b64 = b64.replace("\n", "")
                assert re.search(r'src="data:image/(png|jpeg);base64,' + re.escape(b64) + '"', text), \
                    f"{rel}: image output {i + 1} of {len(pay)} is not embedded in {page_path(rel)}"
            embedded = len(re.findall(r'<img[^>]+src="data:image/', text))
            assert embedded >= len(pay), f"{rel}: {embedded} embedded images < {len(pay)} image outputs"
            images[rel] = len(pay)
        assert not re.search(r'<img[^>]+src="(?!data:|https?:)', text), f"{rel}: an <img> that is not embedded"
    return images


# ----------------------------------------------------------------------------------------------------------------
# The real notebooks


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    full = os.environ.get("FAIRKD_DOCS_FULL", "") not in ("", "0")
    have = {r[:-len(".ipynb")] for r in notebooks(ROOT / "nbs")}
    sample = [n for n in DOCS_SAMPLE if n in have]
    args = ["--jobs", os.environ.get("FAIRKD_DOCS_JOBS", "2")] + ([] if full else ["--only", *sample])
    r = run_build(out, *args)
    print(f"\n[docs] build ({'all notebooks' if full else 'executed: ' + ', '.join(sample)}) took {r.seconds:.0f} s")
    assert r.returncode == 0, f"docs build failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    executed = set(notebooks(ROOT / "nbs")) if full else {n + ".ipynb" for n in sample}
    return dict(out=out, executed=executed, stdout=r.stdout, seconds=r.seconds)


def test_site_pages_nav_links_and_figures(site):
    images = check_site(site["out"], ROOT / "nbs", site["executed"])
    print(f"[docs] images checked per executed notebook: {images}")
    assert set(images) == site["executed"]
    # the sample includes notebooks that do draw figures: the check above is not vacuous
    assert sum(images.values()) > 0


def test_site_executed_with_flags_and_runs_folder(site):
    "Flagged cells were not run and carry a note; notebooks with a preset got smoke; runs stayed in the build."
    out = site["out"]
    for rel in site["executed"]:
        src = json.loads((ROOT / "nbs" / rel).read_text())
        ex = json.loads((out / "_build" / "executed" / rel).read_text())
        page = (out / page_path(rel)).read_text(encoding="utf-8")
        by_id = {c.get("id"): c for c in ex["cells"]}
        for c in src["cells"]:
            if c["cell_type"] != "code": continue
            d = _directives("".join(c["source"]))
            if {"slow", "gpu"} & set(d):
                assert by_id[c["id"]].get("execution_count") is None, f"{rel}: flagged cell {c['id']} was executed"
                if "hide" not in d: assert f'id="skipped-{c["id"]}"' in page, f"{rel}: no note under flagged cell"
        params = [c for c in ex["cells"] if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
        declares = any("parameters" in c.get("metadata", {}).get("tags", []) and
                       re.search(r"^preset\s*:", "".join(c["source"]), re.M) for c in src["cells"])
        if declares:
            assert params and "preset = \"smoke\"" in "".join(params[0]["source"]), f"{rel}: preset not injected"
        declares_out = any("parameters" in c.get("metadata", {}).get("tags", []) and
                           re.search(r"^out_dir\s*:", "".join(c["source"]), re.M) for c in src["cells"])
        if declares_out:   # its run folder went under the build, not <repo>/runs
            runs = out / "_build" / "runs" / rel[:-len(".ipynb")]
            assert str(runs) in "".join(params[0]["source"]), f"{rel}: out_dir not pointed into the build"
            assert runs.is_dir() and any(runs.rglob("params.json")), f"{rel}: no run folder under {runs}"
    manifest = json.loads((out / "_build" / "manifest.json").read_text())
    assert not manifest["failed"]
    pages = {p["source"]: p for p in manifest["pages"]}
    assert set(pages) == set(notebooks(ROOT / "nbs"))


# ----------------------------------------------------------------------------------------------------------------
# Known content


def _nb(cells, kernel=True):
    out = []
    for i, (kind, src, *tags) in enumerate(cells):
        c = {"cell_type": kind, "id": f"c{i}", "metadata": {"tags": tags[0]} if tags else {}, "source": src}
        if kind == "code": c.update(outputs=[], execution_count=None)
        out.append(c)
    return {"cells": out, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                      "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}


PNG = base64.b64decode(  # a 2x2 red PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==")

FIG = '''import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(2, 2)); ax.plot([0, 1], [1, {k}]); plt.show()'''

EXPLORER = '''import base64, io
import ipywidgets as W
from matplotlib.figure import Figure
def png(v):
    fig = Figure(figsize=(2, 2)); fig.subplots().bar(["a"], [v]); buf = io.BytesIO(); fig.savefig(buf, format="png", dpi=40)
    return {"output_type": "display_data", "metadata": {}, "data": {"image/png": base64.b64encode(buf.getvalue()).decode(), "text/plain": "<Figure>"}}
s = W.SelectionSlider(options=[("50% M", 0.5), ("90% M", 0.9)], value=0.5, description="imbalance")
out = W.Output()
def up(*_): out.outputs = (png(s.value),)
s.observe(up, "value"); up()
ui = W.VBox([s, out]); ui.add_class("fairkd-explorer"); display(ui)
s.value = 0.9   # the snapshot shows the last state'''


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    nbs = tmp_path_factory.mktemp("nbs")
    (nbs / "pic.png").write_bytes(PNG)
    (nbs / "index.ipynb").write_text(json.dumps(_nb([("markdown", "# Mini kit\n\n> The index.\n\nSee [the figures](figs.ipynb#a-figure).")])))
    (nbs / "figs.ipynb").write_text(json.dumps(_nb([
        ("markdown", "# Figures\n\n> Two figures, one hidden.\n\n## A figure\n\n![a local picture](pic.png)"),
        ("code", "#| hide\nimport os\n" + FIG.format(k=2)),                 # hidden: its figure is not on the page
        ("code", "#| echo: false\n" + FIG.format(k=3)),
        ("code", "#| slow\nraise RuntimeError('a slow cell must not run in the docs build')"),
        ("code", "#| eval: false\nraise RuntimeError('eval: false must not run')"),
        ("code", "print('cwd', os.getcwd()); print('runs', os.environ.get('FAIRKD_RUNS')); print('IN_TEST', os.environ.get('IN_TEST'))"),
        ("code", "#| export\ndef exported(x): return x + 1"),
        ("code", 'preset: str = "auto"  # smoke | course\nout_dir: str = ""', ["parameters"]),
        ("code", "print('preset is', preset, 'out_dir', out_dir)"),
    ])))
    (nbs / "tutorials").mkdir()
    (nbs / "tutorials" / "explorer.ipynb").write_text(json.dumps(_nb([
        ("markdown", "# Explorer\n\nBack to [the index](../index.ipynb)."), ("code", EXPLORER)])))
    (nbs / "_drafts").mkdir()
    (nbs / "_drafts" / "copy.ipynb").write_text(json.dumps(_nb([("markdown", "# must not be built")])))
    out = tmp_path_factory.mktemp("mini_site")
    r = run_build(out, "--jobs", "2", nbs=nbs, timeout=600)
    assert r.returncode == 0, f"mini build failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return dict(nbs=nbs, out=out, stdout=r.stdout, seconds=r.seconds)


def test_mini_site_rules(mini):
    nbs, out = mini["nbs"], mini["out"]
    images = check_site(out, nbs)
    assert not (out / "_drafts").exists(), "a notebook under an _ folder was built"
    assert images == {"index.ipynb": 0, "figs.ipynb": 1, "tutorials/explorer.ipynb": 1}
    figs = (out / "figs.html").read_text(encoding="utf-8")
    text = plain(figs)
    # the markdown picture is embedded (no pic.png next to the page), the hidden cell's source and figure are gone
    assert "data:image/png;base64," + base64.b64encode(PNG).decode() in figs
    assert not (out / "pic.png").exists()
    assert "import os" not in text and not re.search(r"#\| ?(hide|echo|export|eval)", text)
    assert "ax.plot([0, 1], [1, 3])" not in text and "print('preset is', preset" in text   # echo: false
    assert figs.count('<img') == 2, "hidden cell's figure shown, or echo:false figure missing"
    assert 'id="skipped-c3"' in figs and "slow" in figs
    ex = json.loads((out / "_build" / "executed" / "figs.ipynb").read_text())
    texts = "".join("".join(o.get("text", "")) for c in ex["cells"] for o in c.get("outputs", []))
    assert f"cwd {nbs}" in texts, "kernel did not run in the notebook's folder"
    assert f"runs {out / '_build' / 'runs' / 'figs'}" in texts and "IN_TEST None" in texts
    assert "preset is smoke" in texts and str(out / "_build" / "runs" / "figs") in texts
    assert "def exported(x)" in text                  # exported code is documented, not hidden
    # links: to another notebook -> its page (anchor kept); relative from a subfolder
    assert 'href="figs.html#a-figure"' in (out / "index.html").read_text(encoding="utf-8")
    exp = (out / "tutorials" / "explorer.html").read_text(encoding="utf-8")
    assert 'href="../index.html"' in exp
    # the explorer's static snapshot: the slider's description and last value, the plot of that value
    ex2 = json.loads((out / "_build" / "executed" / "tutorials" / "explorer.ipynb").read_text())
    assert "fairkd-explorer" in exp and "imbalance" in exp and "fairkd-w-sel" in exp
    sel = re.search(r'fairkd-w-opt fairkd-w-sel">([^<]*)<', exp).group(1)
    assert sel == "90% M"
    assert image_payloads(ex2)[0].replace("\n", "") in exp
    # the index lists the notebooks with their summaries
    idx = (out / "index.html").read_text(encoding="utf-8")
    assert "Two figures, one hidden." in idx and 'href="tutorials/explorer.html"' in idx


def test_failing_notebook_fails_the_build(tmp_path):
    nbs = tmp_path / "nbs"; nbs.mkdir()
    (nbs / "index.ipynb").write_text(json.dumps(_nb([("markdown", "# Index")])))
    (nbs / "broken.ipynb").write_text(json.dumps(_nb([("markdown", "# Broken"),
                                                       ("code", "x = 1"), ("code", "raise ValueError('boom 42')")])))
    (nbs / "fine.ipynb").write_text(json.dumps(_nb([("markdown", "# Fine"), ("code", "print(1)")])))
    r = run_build(tmp_path / "site", "--jobs", "2", nbs=nbs, timeout=300)
    assert r.returncode == 1
    msg = r.stdout + r.stderr
    assert "broken.ipynb" in msg and "ValueError: boom 42" in msg
    assert (tmp_path / "site" / "fine.html").exists()      # the other notebooks still finished
    assert not (tmp_path / "site" / "broken.html").exists()


def test_only_unknown_name_is_refused(tmp_path):
    r = run_build(tmp_path / "site", "--only", "no_such_notebook", timeout=120)
    assert r.returncode != 0 and "no_such_notebook" in (r.stdout + r.stderr)

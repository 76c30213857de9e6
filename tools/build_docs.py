"""Build the documentation site: every notebook of nbs/, executed, as static HTML pages with a navigation sidebar.

nbdev's own docs need the Quarto binary, which the kit does not install; this builds an equivalent site with
papermill (execution) and nbconvert (HTML):

    .venv/bin/python tools/build_docs.py                  # -> _site/index.html (make docs)
    .venv/bin/python tools/build_docs.py --jobs 1 --only tour tutorials/bias_in_kd

How a notebook is executed for its page:
- the kernel's working directory is the notebook's folder (as `nbdev-test` does);
- notebooks whose parameters cell declares `preset` get `-p preset <--preset>` (default `smoke`: fast), and those
  that declare `out_dir` get a folder under `<out>/_build/runs/`; `FAIRKD_RUNS` points there too, so nothing lands
  in <repo>/runs. `IN_TEST` is not set: the pages show what a user sees (progress messages, figures), not the
  quiet test mode;
- cells that `nbdev-test` would skip by default (flags in `[tool.nbdev] tst_flags`: `#| slow`, `#| gpu`) are not
  executed; the page shows a note under them. Cells `nbdev-test` never runs (`#| eval: false`, `nbdev_export()`)
  are not run either;
- notebooks run in parallel (`--jobs`); a failing notebook fails the build (exit 1), named with its error, after
  the other notebooks have finished.

What a page shows: code and outputs as in JupyterLab, with nbdev's directives applied (`#| hide`, `#| default_exp`,
`#| include: false` remove a cell; `#| echo: false` its input; `#| output: false` its outputs; directive lines are
not shown). Every figure is embedded as a base64 data URI (outputs and markdown images), so a page needs no other
local file. Widgets (the tutorials' explorers) are drawn as a static snapshot of their state: the controls with
their values and the outputs of their Output widgets; finished progress bars are left out, as JupyterLab closes them.

Written next to the pages: `<out>/_build/executed/<notebook>.ipynb` (the executed notebooks),
`<out>/_build/runs/` (their run folders) and `<out>/_build/manifest.json` (pages, timings, counts).
"""
from __future__ import annotations

import argparse, concurrent.futures as cf, copy, html, json, multiprocessing, os, re, shutil, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
REPO_URL = "https://github.com/fairkd-nb/fairkd_nb"

# --------------------------------------------------------------------------------------------------------------
# Notebook discovery and metadata


def discover(nbs: Path = NBS) -> list[str]:
    "Notebook paths relative to `nbs` (posix), skipping any folder or file whose name starts with `_` or `.`."
    out = []
    for p in nbs.rglob("*.ipynb"):
        rel = p.relative_to(nbs)
        if any(part.startswith(("_", ".")) for part in rel.parts): continue
        out.append(rel.as_posix())
    return sorted(out, key=sort_key)


def sort_key(rel: str):
    "index first, then top-level guides and methods, then sub-folders (tutorials), then the numbered library."
    parts = rel.split("/")
    if rel == "index.ipynb": return (0, "", rel)
    if len(parts) > 1: return (2, parts[0], rel)
    if re.match(r"\d", parts[0]): return (3, "", rel)
    return (1, "", rel)


def group_of(rel: str) -> str:
    parts = rel.split("/")
    if rel == "index.ipynb": return "Overview"
    if len(parts) > 1: return parts[0].replace("_", " ").capitalize()
    if re.match(r"\d", parts[0]): return "Library"
    return "Guides and methods"


def page_of(rel: str) -> str:
    return rel[:-len(".ipynb")] + ".html"


def _src(cell) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def title_and_summary(nb: dict, rel: str) -> tuple[str, str]:
    "The first markdown `# heading` and the `> summary` line after it (nbdev's convention)."
    for c in nb.get("cells", []):
        if c.get("cell_type") != "markdown": continue
        src = _src(c)
        m = re.search(r"^#\s+(.+?)\s*$", src, re.M)
        if not m: continue
        title = re.sub(r"[`*]", "", m.group(1)).strip()
        rest = src[m.end():]
        s = re.search(r"^>\s*(.+?)\s*$", rest, re.M)
        summary = re.sub(r"[`*]", "", s.group(1)).strip() if s else ""
        return title, summary
    return Path(rel).stem, ""


# --------------------------------------------------------------------------------------------------------------
# nbdev directives

_re_dir = re.compile(r"^\s*#\s*\|\s*([\w-]+)\s*:?\s*(.*?)\s*$")


def directives(cell) -> dict[str, str]:
    "nbdev directives (`#| name` or `#| name: value`) at the top of a code cell, after cell magics."
    out = {}
    for line in _src(cell).splitlines():
        if line.startswith("%%"): continue
        m = _re_dir.match(line)
        if not m: break
        out[m.group(1)] = m.group(2)
    return out


def strip_directives(src: str) -> str:
    lines = src.splitlines(True)
    i = 0
    while i < len(lines) and (lines[i].startswith("%%") or _re_dir.match(lines[i])): i += 1
    keep = [l for l in lines[:i] if l.startswith("%%")] + lines[i:]
    return "".join(keep)


def skip_flags() -> list[str]:
    "`[tool.nbdev] tst_flags` of the project (the flags `nbdev-test` skips by default)."
    try:
        from nbdev.config import get_config
        flags = get_config(path=ROOT).get("tst_flags", ["slow", "gpu"])
        return flags.split() if isinstance(flags, str) else list(flags)
    except Exception:
        return ["slow", "gpu"]


def plan_cells(path: Path, flags: list[str]) -> tuple[set[str], dict[str, list[str]]]:
    "Ids of the code cells to execute, and {cell id: flags} of those left out because of a skip flag."
    from nbdev.test import nb_test_cells
    run_all = {c.id for c in nb_test_cells(path, skip_flags=[])}
    run = {c.id for c in nb_test_cells(path, skip_flags=flags)}
    nb = json.loads(path.read_text())
    flagged = {}
    for c in nb["cells"]:
        if c.get("id") in run_all - run:
            flagged[c["id"]] = [f for f in flags if f in directives(c)]
    return run, flagged


# --------------------------------------------------------------------------------------------------------------
# Execution (one worker process per job)


def _execute(job: dict) -> dict:
    "Execute one notebook with papermill; return its timing or its error. Runs in a worker process."
    import papermill as pm
    t0 = time.time()
    env = job["env"]
    for k in ("MPLBACKEND", "IN_TEST", "FAIRKD_PROGRESS"):   # inline figures, user mode
        os.environ.pop(k, None)
    os.environ.update(env)
    Path(env["FAIRKD_RUNS"]).mkdir(parents=True, exist_ok=True)
    out = Path(job["executed"]); out.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(job["prepared"], str(out), parameters=job["parameters"], cwd=job["cwd"],
                            kernel_name=job["kernel"], progress_bar=False, log_output=False,
                            request_save_on_cell_execute=False, execution_timeout=job["timeout"],
                            start_timeout=180)
    except pm.PapermillExecutionError as e:
        return dict(rel=job["rel"], ok=False, seconds=time.time() - t0,
                    error=f"cell {e.exec_count} raised {e.ename}: {e.evalue}".strip())
    except Exception as e:   # kernel death, timeout, missing kernel
        return dict(rel=job["rel"], ok=False, seconds=time.time() - t0, error=f"{type(e).__name__}: {e}")
    return _render_job(job, time.time() - t0)


def _render_job(job: dict, seconds: float) -> dict:
    "Render the page of an executed notebook (in the worker, so that pages render in parallel too)."
    t1 = time.time()
    rel = job["rel"]
    nb = json.loads(Path(job["executed"]).read_text())
    pages = job["pages"]
    info = render(nb, rel, pages, job["flagged"], True, Path(job["nbs"]), Path(job["out"]),
                  extra_cells=index_cells(pages) if rel == "index.ipynb" else [])
    return dict(rel=rel, ok=True, seconds=seconds, render_seconds=time.time() - t1, info=info)


def _render_other(job: dict) -> dict:
    "Render a notebook this build does not execute: from an earlier build's executed copy, else from its source."
    try:
        rel, pages = job["rel"], job["pages"]
        executed = bool(job["executed"])
        nb = json.loads(Path(job["executed"] or Path(job["nbs"]) / rel).read_text())
        info = render(nb, rel, pages, job["flagged"] if executed else {}, executed, Path(job["nbs"]), Path(job["out"]),
                      extra_cells=index_cells(pages) if rel == "index.ipynb" else [])
        return dict(rel=rel, ok=True, info=info)
    except Exception as e:
        return dict(rel=job["rel"], ok=False, seconds=0.0, error=f"{type(e).__name__}: {e}")


def prepare(rel: str, nbs: Path, build: Path, preset: str, timeout: int, flags: list[str]) -> tuple[dict, dict]:
    "Write the notebook to execute (skip tags set) and return (job for `_execute`, {cell id: flags})."
    import papermill as pm
    src = nbs / rel
    run, flagged = plan_cells(src, flags)
    nb = json.loads(src.read_text())
    for c in nb["cells"]:
        if c["cell_type"] != "code": continue
        tags = c.setdefault("metadata", {}).setdefault("tags", [])
        if c.get("id") not in run and "skip-execution" not in tags: tags.append("skip-execution")
    prepared = build / "prepared" / rel
    prepared.parent.mkdir(parents=True, exist_ok=True)
    prepared.write_text(json.dumps(nb, indent=1))
    runs = build / "runs" / rel[:-len(".ipynb")]
    declared = pm.inspect_notebook(str(src)) if any(
        "parameters" in c.get("metadata", {}).get("tags", []) for c in nb["cells"]) else {}
    params = {}
    if "preset" in declared: params["preset"] = preset
    if "out_dir" in declared: params["out_dir"] = str(runs)
    threads = os.environ.get("OMP_NUM_THREADS") or "1"
    env = {"FAIRKD_RUNS": str(runs), "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
           "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "ignore::DeprecationWarning")}
    job = dict(rel=rel, prepared=str(prepared), executed=str(build / "executed" / rel), parameters=params,
               declares=sorted(declared),
               cwd=str(src.parent), kernel=nb.get("metadata", {}).get("kernelspec", {}).get("name", "python3"),
               timeout=timeout, env=env, has_code=any(c["cell_type"] == "code" and _src(c).strip()
                                                        for c in nb["cells"]))
    return job, flagged


# --------------------------------------------------------------------------------------------------------------
# Static widgets


def _widget_models(nb: dict) -> dict:
    st = nb.get("metadata", {}).get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    return st.get("state", {}) if isinstance(st, dict) else {}


def _ref(v):
    return v[len("IPY_MODEL_"):] if isinstance(v, str) and v.startswith("IPY_MODEL_") else None


def _is_finished_progress_bar(models: dict, mid: str) -> bool:
    "A tqdm notebook bar (HBox of HTML, progress, HTML) that completed normally: JupyterLab no longer shows it."
    m = models.get(mid, {})
    if m.get("model_name") != "HBoxModel": return False
    kids = [models.get(_ref(k) or "", {}) for k in m.get("state", {}).get("children", [])]
    bars = [k for k in kids if k.get("model_name") in ("FloatProgressModel", "IntProgressModel")]
    return len(kids) == 3 and len(bars) == 1 and bars[0].get("state", {}).get("bar_style", "") != "danger"


def _output_html(o: dict) -> str:
    "One output of an Output widget as HTML (images as data URIs)."
    def j(v): return "".join(v) if isinstance(v, list) else str(v)
    if o.get("output_type") == "stream":
        return f'<pre class="fairkd-w-stream">{html.escape(j(o.get("text", "")))}</pre>'
    if o.get("output_type") == "error":
        tb = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(o.get("traceback", [])))
        return f'<pre class="fairkd-w-error">{html.escape(tb)}</pre>'
    data = o.get("data", {})
    for mime in ("image/png", "image/jpeg"):
        if mime in data:
            alt = html.escape(j(data.get("text/plain", "figure")))
            return f'<img src="data:{mime};base64,{j(data[mime]).strip()}" alt="{alt}">'
    if "image/svg+xml" in data: return j(data["image/svg+xml"])
    if "text/html" in data: return j(data["text/html"])
    if "text/markdown" in data:
        from nbconvert.filters.markdown_mistune import markdown2html_mistune
        return markdown2html_mistune(j(data["text/markdown"]))
    if "text/plain" in data: return f'<pre>{html.escape(j(data["text/plain"]))}</pre>'
    return ""


def widget_snapshot(models: dict, mid: str, show_outputs: bool = True) -> str:
    """Static HTML of widget `mid`: its controls with their last values and, with `show_outputs`, what its
    Output widgets last held (images as data URIs)."""
    def esc(x): return html.escape(str(x))

    def walk(mid: str, depth: int = 0) -> str:
        m = models.get(mid)
        if m is None or depth > 30: return ""
        name, st = m.get("model_name", ""), m.get("state", {})
        classes = " ".join(["fairkd-w", "fairkd-w-" + name.replace("Model", "").lower(), *st.get("_dom_classes", [])])
        desc = st.get("description", "")
        label = f'<span class="fairkd-w-desc">{esc(desc)}</span> ' if desc else ""
        if name == "OutputModel":
            if not show_outputs: return ""
            return f'<div class="{esc(classes)}">' + "".join(_output_html(o) for o in st.get("outputs", [])) + "</div>"
        if "children" in st:
            parts = [walk(_ref(k), depth + 1) for k in st.get("children", []) if _ref(k)]
            if name in ("TabModel", "AccordionModel", "StackModel"):
                titles = st.get("titles") or st.get("_titles") or []
                if isinstance(titles, dict): titles = [titles.get(str(i), "") for i in range(len(parts))]
                titles = list(titles) + [""] * len(parts)
                parts = [f'<div class="fairkd-w-tab"><div class="fairkd-w-tabtitle">{esc(t)}</div>{p}</div>'
                         for t, p in zip(titles, parts)]
            return f'<div class="{esc(classes)}">{"".join(parts)}</div>'
        if name in ("HTMLModel", "HTMLMathModel"):
            return f'<div class="{esc(classes)}">{label}{st.get("value", "")}</div>'
        if name in ("LabelModel", "TextModel", "TextareaModel", "ValidModel"):
            return f'<div class="{esc(classes)}">{label}<span class="fairkd-w-value">{esc(st.get("value", ""))}</span></div>'
        v = st.get("value")
        if isinstance(v, (int, float)) and not isinstance(v, bool) and "max" in st and "min" in st:
            if "Progress" in name:
                bar = f'<progress max="{esc(st["max"])}" value="{esc(v)}"></progress>'
            else:
                bar = (f'<input type="range" disabled min="{esc(st["min"])}" max="{esc(st["max"])}" '
                       f'step="{esc(st.get("step", 1))}" value="{esc(v)}" aria-label="{esc(desc)}">')
            return f'<div class="{esc(classes)}">{label}{bar} <span class="fairkd-w-value">{esc(v)}</span></div>'
        if "_options_labels" in st or "options" in st:
            labels = st.get("_options_labels") or st.get("options") or []
            idx = st.get("index")
            sel = set(idx) if isinstance(idx, (list, tuple)) else {idx}
            opts = " ".join(f'<span class="fairkd-w-opt{" fairkd-w-sel" if i in sel else ""}">{esc(o)}</span>'
                            for i, o in enumerate(labels))
            return f'<div class="{esc(classes)}">{label}{opts}</div>'
        if name in ("CheckboxModel", "ToggleButtonModel"):
            return f'<div class="{esc(classes)}">{"☑" if v else "☐"} {esc(desc)}</div>'
        if name == "ButtonModel":
            return f'<div class="{esc(classes)}"><span class="fairkd-w-button">{esc(desc or st.get("tooltip") or "")}</span></div>'
        if v is not None and not isinstance(v, (dict, list)):
            return f'<div class="{esc(classes)}">{label}<span class="fairkd-w-value">{esc(v)}</span></div>'
        return ""

    return walk(mid)


# --------------------------------------------------------------------------------------------------------------
# Rendering


CSS = """
body { margin: 0; }
.fairkd-nav { position: fixed; top: 0; left: 0; bottom: 0; width: 250px; overflow-y: auto; padding: 14px 12px;
  box-sizing: border-box; background: #f6f7f9; border-right: 1px solid #dde1e6;
  font: 13px/1.4 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; z-index: 10; }
.fairkd-nav a { color: #1f4f8f; text-decoration: none; display: block; padding: 2px 6px; border-radius: 4px; }
.fairkd-nav a:hover { background: #e6ebf2; }
.fairkd-nav a.fairkd-current { background: #dbe5f3; font-weight: 600; }
.fairkd-nav .fairkd-home { font-size: 16px; font-weight: 700; margin-bottom: 8px; }
.fairkd-nav h3 { font-size: 11px; text-transform: uppercase; letter-spacing: .05em; color: #5b6470; margin: 14px 6px 4px; }
.fairkd-nav ul { list-style: none; margin: 0; padding: 0; }
.fairkd-page { margin-left: 250px; padding: 8px 24px 40px; max-width: 1100px; }
.fairkd-note { border-left: 4px solid #d9a400; background: #fff8e1; padding: 6px 10px; margin: 4px 0 10px;
  font: 13px/1.4 sans-serif; }
.fairkd-banner { border-left: 4px solid #1f4f8f; background: #eef3fa; padding: 6px 10px; margin: 10px 0;
  font: 13px/1.4 sans-serif; }
.fairkd-w { margin: 2px 0; }
.fairkd-w-vbox, .fairkd-w-box, .fairkd-w-gridbox { display: flex; flex-direction: column; gap: 4px; }
.fairkd-w-hbox { display: flex; flex-direction: row; gap: 10px; align-items: flex-start; flex-wrap: wrap; }
.fairkd-w-desc { display: inline-block; min-width: 90px; color: #333; }
.fairkd-w-opt { border: 1px solid #ccd; border-radius: 3px; padding: 0 5px; margin-right: 3px; }
.fairkd-w-sel { background: #dbe5f3; border-color: #1f4f8f; }
.fairkd-w-button { border: 1px solid #aab; border-radius: 3px; padding: 1px 8px; background: #eee; }
.fairkd-w-tabtitle { font-weight: 600; margin-top: 4px; }
.fairkd-snapshot { border: 1px dashed #b8c2cc; padding: 6px 8px; border-radius: 4px; }
.fairkd-snapshot-note { font: 12px sans-serif; color: #5b6470; margin-bottom: 4px; }
.fairkd-index-list dt { font-weight: 600; margin-top: 6px; }
.fairkd-index-list dd { margin-left: 16px; color: #444; }
@media (max-width: 800px) { .fairkd-nav { position: static; width: auto; height: auto; border-right: 0; }
  .fairkd-page { margin-left: 0; } }
"""


def nav_html(pages: list[dict], current: str) -> str:
    def rel_link(target: str) -> str:
        return os.path.relpath(target, os.path.dirname(current) or ".").replace(os.sep, "/")
    parts = [f'<nav class="fairkd-nav" aria-label="Notebooks"><a class="fairkd-home" href="{rel_link("index.html")}">'
             f'fairkd_nb</a>']
    group = None
    for p in pages:
        if p["group"] != group:
            if group is not None: parts.append("</ul>")
            group = p["group"]
            parts.append(f"<h3>{html.escape(group)}</h3><ul>")
        cur = ' class="fairkd-current" aria-current="page"' if p["page"] == current else ""
        parts.append(f'<li><a href="{rel_link(p["page"])}"{cur} title="{html.escape(p["source"])}">'
                     f'{html.escape(p["title"])}</a></li>')
    parts.append("</ul></nav>")
    return "".join(parts)


def _md_cell(text: str) -> dict:
    import hashlib
    return {"cell_type": "markdown", "id": "fairkd-" + hashlib.sha1(text.encode()).hexdigest()[:12], "metadata": {},
            "source": text}


def _html_output(text: str) -> dict:
    return {"output_type": "display_data", "metadata": {}, "data": {"text/html": text}}


def doc_notebook(nb: dict, flagged: dict[str, list[str]], executed: bool) -> dict:
    "The notebook as the page shows it: directives applied, skipped cells noted, widgets as static snapshots."
    nb = copy.deepcopy(nb)
    models = _widget_models(nb)
    cells = []
    for c in nb.get("cells", []):
        md = c.setdefault("metadata", {})
        md.pop("papermill", None); md.pop("execution", None)
        tags = [t for t in md.get("tags", []) if t != "skip-execution"]
        if c["cell_type"] != "code":
            cells.append(c); continue
        d = directives(c)
        if "hide" in d or "default_exp" in d or d.get("include", "").lower() == "false": continue
        if "nbdev_export(" in _src(c) and "hide" not in d and not _src(c).replace("nbdev_export()", "").strip(" \n#|"):
            continue
        c["source"] = strip_directives(_src(c)).strip("\n")
        if d.get("echo", "").lower() == "false": tags.append("remove_input")
        if d.get("output", "").lower() == "false": c["outputs"] = []
        md["tags"] = tags
        outs = []
        for o in c.get("outputs", []):
            data = o.get("data", {})
            view = data.get("application/vnd.jupyter.widget-view+json")
            if view is None:
                outs.append(o); continue
            mid = view.get("model_id", "")
            if mid not in models or _is_finished_progress_bar(models, mid): continue
            # A bundle that carries its own static picture (e.g. image/png next to the widget view) shows that
            # picture, as the notebook's author meant for viewers without a kernel; otherwise the Output
            # widgets' last contents are drawn inside the snapshot.
            static = {k: v for k, v in data.items() if k in ("image/png", "image/jpeg", "image/svg+xml", "text/html")}
            body = widget_snapshot(models, mid, show_outputs=not static)
            outs.append(_html_output('<div class="fairkd-snapshot"><div class="fairkd-snapshot-note">Interactive '
                                     'widget: a static snapshot of its state when the page was built. Run the '
                                     'notebook to use it.</div>' + body + "</div>"))
            if static: outs.append({"output_type": "display_data", "metadata": o.get("metadata", {}), "data": static})
        c["outputs"] = outs
        cells.append(c)
        if c.get("id") in flagged:
            fl = ", ".join(f"<code>#| {f}</code>" for f in flagged[c["id"]]) or "a skip flag"
            cells.append(_md_cell(f'<div class="fairkd-note fairkd-skipped" id="skipped-{html.escape(c["id"])}">'
                                  f'Not executed in the docs build: this cell is flagged {fl}. Run the notebook '
                                  f'in JupyterLab, or <code>nbdev-test --flags {" ".join(flagged[c["id"]]) or "slow"}'
                                  f'</code>, to see its output.</div>'))
    nb["cells"] = cells
    meta = nb.setdefault("metadata", {})
    meta.pop("widgets", None); meta.pop("papermill", None)
    if not executed:
        cells.insert(1 if cells and cells[0]["cell_type"] == "markdown" else 0, _md_cell(
            '<div class="fairkd-banner fairkd-unexecuted">This page was built without executing the notebook '
            '(a <code>--only</code> build): it shows the source only.</div>'))
    return nb


def _clean_html(element):
    "nbconvert's HTML sanitizer, except for pygments' highlighted code (escaped by pygments; bleach takes seconds)."
    from nbconvert.filters.strings import clean_html
    text = element.decode() if isinstance(element, bytes) else str(element)
    if re.match(r'<div class=" ?highlight[ "]', text) and "<script" not in text.lower(): return text
    return clean_html(element)


def _exporter():
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config
    cfg = Config()
    cfg.TagRemovePreprocessor.remove_input_tags = {"remove_input"}
    cfg.TagRemovePreprocessor.enabled = True
    cfg.HTMLExporter.preprocessors = ["nbconvert.preprocessors.TagRemovePreprocessor"]
    ex = HTMLExporter(config=cfg, template_name="lab", filters={"clean_html": _clean_html})
    ex.embed_images = True
    return ex


_re_attr = re.compile(r'(\s(?:href|src)=)(["\'])([^"\']*)\2', re.I)


def fix_links(page_html: str, rel: str, page: str, site_pages: set[str], nbs: Path) -> tuple[str, list[str]]:
    """Local links of a page: `x.ipynb` -> the page of x; a file of the repository -> its address on GitHub.

    Returns the new HTML and the local targets that exist nowhere (left as they are)."""
    missing = []
    nb_dir = (nbs / rel).parent

    def sub(m):
        pre, q, url = m.groups()
        if not url or url.startswith(("#", "data:", "http:", "https:", "mailto:", "javascript:", "//")): return m.group(0)
        path, _, frag = url.partition("#")
        path = path.split("?")[0]
        if not path: return m.group(0)
        if path.endswith(".ipynb"):
            target_nb = os.path.normpath(os.path.join(os.path.dirname(rel), path)).replace(os.sep, "/")
            tpage = page_of(target_nb)
        else:
            tpage = os.path.normpath(os.path.join(os.path.dirname(page), path)).replace(os.sep, "/")
        if tpage in site_pages:
            if path.endswith(".ipynb"):
                new = os.path.relpath(tpage, os.path.dirname(page) or ".").replace(os.sep, "/")
                return f"{pre}{q}{new}{'#' + frag if frag else ''}{q}"
            return m.group(0)
        target = (nb_dir / path).resolve()
        try:
            inside = target.relative_to(ROOT)
        except ValueError:
            inside = None
        if inside is not None and target.exists():
            kind = "tree" if target.is_dir() else "blob"
            return f"{pre}{q}{REPO_URL}/{kind}/main/{inside.as_posix()}{'#' + frag if frag else ''}{q}"
        missing.append(url)
        return m.group(0)

    return _re_attr.sub(sub, page_html), missing


def render(nb: dict, rel: str, pages: list[dict], flagged: dict, executed: bool, nbs: Path, out: Path,
           extra_cells: list[dict] = ()) -> dict:
    "Write the page of notebook `rel`; return counts for the manifest."
    import nbformat
    page = page_of(rel)
    dnb = doc_notebook(nb, flagged, executed)
    dnb["cells"].extend(extra_cells)
    node = nbformat.reads(json.dumps(dnb), as_version=4)   # joins list-of-lines sources and outputs
    title = next(p["title"] for p in pages if p["source"] == rel)
    node.metadata["title"] = title
    ex = _exporter()
    body, _ = ex.from_notebook_node(node, resources={"metadata": {"path": str((nbs / rel).parent), "name": title}})
    body, missing = fix_links(body, rel, page, {p["page"] for p in pages}, nbs)
    nav = nav_html(pages, page)
    body = body.replace("</head>", f"<style>{CSS}</style>\n</head>", 1)
    m = re.search(r"<body[^>]*>", body)
    body = body[:m.end()] + nav + '<div class="fairkd-page">' + body[m.end():]
    body = body.replace("</body>", "</div></body>", 1)
    dest = out / page
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(body, encoding="utf-8")
    n_img = len(re.findall(r'<img[^>]+src="data:image/', body))
    return dict(page=page, images=n_img, missing_links=missing, bytes=len(body.encode()))


def index_cells(pages: list[dict]) -> list[dict]:
    "The notebook list appended to the index page."
    parts = ['<h2 id="notebooks">Notebooks</h2><p>Every notebook of <code>nbs/</code>, executed when this site '
             'was built.</p>']
    group = None
    for p in pages:
        if p["source"] == "index.ipynb": continue
        if p["group"] != group:
            if group is not None: parts.append("</dl>")
            group = p["group"]
            parts.append(f'<h3>{html.escape(group)}</h3><dl class="fairkd-index-list">')
        parts.append(f'<dt><a href="{p["page"]}">{html.escape(p["title"])}</a> <code>{html.escape(p["source"])}'
                     f'</code></dt><dd>{html.escape(p["summary"])}</dd>')
    parts.append("</dl>")
    return [_md_cell("\n".join(parts))]


# --------------------------------------------------------------------------------------------------------------
# Command line


def select(rels: list[str], names: list[str]) -> list[str]:
    "Notebooks named by `--only` (a relative path, with or without .ipynb, or a bare name)."
    chosen = []
    for n in names:
        n = n[:-len(".ipynb")] if n.endswith(".ipynb") else n
        n = n[len("nbs/"):] if n.startswith("nbs/") else n
        hits = [r for r in rels if r[:-6] == n or Path(r).stem == n]
        if not hits: raise SystemExit(f"--only {n!r}: no such notebook in nbs/ (have: {', '.join(r[:-6] for r in rels)})")
        chosen += [h for h in hits if h not in chosen]
    return chosen


def build(out: Path, jobs: int = 2, preset: str = "smoke", only: list[str] | None = None, timeout: int = 600,
          nbs: Path = NBS, reuse: bool = False, log=print) -> dict:
    "Build the site into `out`; return the manifest. Raises SystemExit(1) when a notebook fails."
    t_start = time.time()
    out = out.resolve()
    build_dir = out / "_build"
    rels = discover(nbs)
    if "index.ipynb" not in rels: raise SystemExit(f"{nbs}/index.ipynb is missing: the site needs it for index.html")
    todo = select(rels, only) if only else rels
    mf_path = build_dir / "manifest.json"
    prev_mf = {}
    if mf_path.exists():
        try: prev_mf = json.loads(mf_path.read_text())
        except Exception: prev_mf = {}
    # --reuse: an executed notebook newer than its source, from a build with the same preset, is rendered as is
    reused = set()
    if reuse and prev_mf.get("preset") == preset:
        reused = {r for r in todo if (build_dir / "executed" / r).exists()
                  and (build_dir / "executed" / r).stat().st_mtime >= (nbs / r).stat().st_mtime}
    for r in todo:    # a notebook executed again starts from nothing: no executed copy, no run folders of before
        if r in reused: continue
        for sub in ("prepared", "executed"): (build_dir / sub / r).unlink(missing_ok=True)
        shutil.rmtree(build_dir / "runs" / r[:-len(".ipynb")], ignore_errors=True)
    pages = []
    for r in rels:
        title, summary = title_and_summary(json.loads((nbs / r).read_text()), r)
        pages.append(dict(source=r, page=page_of(r), title=title, summary=summary, group=group_of(r)))
    flags = skip_flags()
    prev = {p["source"]: p.get("seconds") or 0 for p in prev_mf.get("pages", [])}
    jobs_, flagged = {}, {}
    for r in todo:
        jobs_[r], flagged[r] = prepare(r, nbs, build_dir, preset, timeout, flags)
        jobs_[r].update(pages=pages, flagged=flagged[r], nbs=str(nbs), out=str(out))
    # longest first, so that the slowest notebook does not start last: the last build's timings, else notebooks
    # with a parameters cell (they train) before the others, larger before smaller
    order = sorted(todo, key=lambda r: (-prev.get(r, 0), not jobs_[r]["parameters"] and not jobs_[r]["declares"],
                                        -(nbs / r).stat().st_size))
    results = {}
    to_run = [r for r in order if jobs_[r]["has_code"] and r not in reused]
    log(f"docs: executing {len(to_run)} notebook(s) with {jobs} job(s), preset {preset!r} -> {out}")
    manifest_pages = {}

    def finish(r, res):
        results[r] = res
        if not res["ok"]:
            log(f"docs: FAILED {r} after {res['seconds']:.0f} s: {res['error']}")
            return
        info = res["info"]
        manifest_pages[r] = dict(source=r, executed=True, reused=bool(res.get("reused")), seconds=round(res["seconds"], 1),
                                 render_seconds=round(res["render_seconds"], 1), skipped_cells=flagged[r], **info)
        log(f"docs: {r} executed in {res['seconds']:.0f} s, rendered in {res['render_seconds']:.0f} s -> "
            f"{info['page']} ({info['images']} images)")

    # notebooks left out by --only: rendered again (fresh navigation) from the last build's executed notebook when
    # there is one, else from the source with a banner
    others = []
    for r in rels:
        if r in todo: continue
        ex = build_dir / "executed" / r
        others.append(dict(rel=r, executed=str(ex) if ex.exists() else None, pages=pages, nbs=str(nbs), out=str(out),
                           flagged=plan_cells(nbs / r, flags)[1]))

    def finish_other(job, res):
        r = job["rel"]
        if not res["ok"]:
            results[r] = res; log(f"docs: FAILED to render {r}: {res['error']}"); return
        old = next((p for p in prev_mf.get("pages", []) if p.get("source") == r), {})
        was = bool(job["executed"])
        manifest_pages[r] = dict(source=r, executed=was, kept=was, seconds=old.get("seconds") if was else None,
                                 skipped_cells=job["flagged"] if was else {}, **res["info"])

    for r in order:
        if r in reused:
            res = _render_job(jobs_[r], prev.get(r, 0.0)); res["reused"] = True
            log(f"docs: {r}: reusing the executed notebook of the last build")
            finish(r, res)
        elif not jobs_[r]["has_code"]:    # nothing to execute (index): the source is the executed notebook
            Path(jobs_[r]["executed"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(jobs_[r]["prepared"], jobs_[r]["executed"])
            finish(r, _render_job(jobs_[r], 0.0))
    if to_run or others:
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=max(1, min(jobs, len(to_run) + len(others))), mp_context=ctx) as pool:
            futs = {pool.submit(_execute, jobs_[r]): ("run", r) for r in to_run}
            futs.update({pool.submit(_render_other, j): ("other", j) for j in others})
            for f in cf.as_completed(futs):
                kind, key = futs[f]
                r = key if kind == "run" else key["rel"]
                try: res = f.result()
                except Exception as e: res = dict(rel=r, ok=False, seconds=0.0, error=f"{type(e).__name__}: {e}")
                finish(r, res) if kind == "run" else finish_other(key, res)
    failed = {r: v["error"] for r, v in results.items() if not v["ok"]}
    manifest = dict(preset=preset, jobs=jobs, seconds=round(time.time() - t_start, 1), flags=flags,
                    pages=[manifest_pages[r] for r in rels if r in manifest_pages], failed=failed,
                    nav=[{k: p[k] for k in ("source", "page", "title", "group")} for p in pages])
    build_dir.mkdir(parents=True, exist_ok=True)
    mf_path.write_text(json.dumps(manifest, indent=1))
    (out / ".nojekyll").touch()
    missing = {p["source"]: p["missing_links"] for p in manifest["pages"] if p.get("missing_links")}
    for r, m in missing.items(): log(f"docs: warning: {r} links to missing local file(s): {', '.join(m)}")
    if failed:
        log(f"docs: {len(failed)} notebook(s) failed:\n" + "\n".join(f"  {r}: {e}" for r, e in failed.items()))
        raise SystemExit(1)
    log(f"docs: {len(manifest['pages'])} pages in {manifest['seconds']:.0f} s -> {out / 'index.html'}")
    return manifest


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "_site"), help="output folder (default: <repo>/_site)")
    ap.add_argument("--jobs", type=int, default=2, help="notebooks executed in parallel (default 2)")
    ap.add_argument("--preset", default="smoke", help="passed as -p preset to notebooks that declare it (default smoke)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="execute and render only these notebooks "
                    "(e.g. tour tutorials/bias_in_kd); the others keep their page or get an unexecuted one")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    ap.add_argument("--reuse", action="store_true", help="render executed notebooks of the last build into --out "
                    "again when they are newer than their source (same preset) instead of executing them")
    ap.add_argument("--nbs", default=str(NBS), help="folder of the notebooks (default: <repo>/nbs)")
    a = ap.parse_args(argv)
    build(Path(a.out), jobs=a.jobs, preset=a.preset, only=a.only, timeout=a.timeout, nbs=Path(a.nbs).resolve(),
          reuse=a.reuse)


if __name__ == "__main__":
    main()

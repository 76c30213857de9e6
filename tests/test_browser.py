"""A person's view of the tutorial: JupyterLab in headless Chromium, run all cells, move the explorer's slider.

What it checks, as a user would see it in the browser:
- the tutorial (nbs/tutorials/bias_in_kd.ipynb) runs top to bottom in JupyterLab (Run > Run All Cells) with no
  error output, under IN_TEST=1 (the `smoke` preset);
- its first explorer (a widget with CSS class `fairkd-explorer`) starts with a slider described "imbalance" and
  shows a PNG plot in its Output;
- dragging that slider with the mouse changes the plot (another PNG) and the slider's readout.
A stand-in notebook with the same widget structure (made here, in the temporary copy) checks the harness itself, so
that a failure of the tutorial test points at the tutorial, not at the browser plumbing.

Needs Chromium (Debian package `chromium`) and the Playwright driver (`pip install playwright`; its own browser
download, `playwright install`, is not used). Skipped with the reason when either is missing;
`make test-browser` installs both and runs this file (with FAIRKD_BROWSER_REQUIRED=1: a missing piece is an
error there, not a skip). Screenshots are written to the test's temporary folder
(their paths are printed; `pytest -s` shows them).
"""
import json, os, re, secrets, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TUTORIAL = "tutorials/bias_in_kd.ipynb"
STANDIN = "browser_standin.ipynb"
RUN_TIMEOUT_S = int(os.environ.get("FAIRKD_BROWSER_TIMEOUT", 420))   # Run All of the tutorial, loaded 2-core machine


def chromium() -> str | None:
    "A Chromium or Chrome executable: $FAIRKD_CHROMIUM, else the first one on PATH."
    if os.environ.get("FAIRKD_CHROMIUM"):
        exe = os.environ["FAIRKD_CHROMIUM"]
        return exe if os.access(exe, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name): return shutil.which(name)
    return None


def _skip_reason() -> str | None:
    if chromium() is None:
        return "no Chromium on PATH (Debian: apt-get install -y chromium; or set FAIRKD_CHROMIUM) — `make test-browser` installs it"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed in this environment (pip install playwright) — `make test-browser` installs it"
    if not (BIN / "jupyter-lab").exists() and shutil.which("jupyter-lab") is None:
        return "jupyter-lab is not installed"
    return None


if _skip_reason() is not None and os.environ.get("FAIRKD_BROWSER_REQUIRED", "") not in ("", "0"):
    raise RuntimeError(f"FAIRKD_BROWSER_REQUIRED is set but the browser test cannot run: {_skip_reason()}")
pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


def standin_notebook() -> dict:
    "A notebook whose explorer has the tutorial's structure: VBox.fairkd-explorer [slider 'imbalance', buttons, Output]."
    code = '''import base64, io
import ipywidgets as W
import matplotlib
from matplotlib.figure import Figure
from IPython.display import display

def png(majority, model):
    fig = Figure(figsize=(5, 3)); ax = fig.subplots()
    ax.bar(["M", "F"], [majority, 1 - majority], color=["tab:blue", "tab:orange"] if model == "kd" else "grey")
    ax.set(ylim=(0, 1), title=f"{model}: {majority:.0%} men")
    buf = io.BytesIO(); fig.savefig(buf, format="png", dpi=60)
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(buf.getvalue()).decode(), "text/plain": "<Figure>"}}

slider = W.SelectionSlider(options=[("50% M", 0.5), ("70% M", 0.7), ("90% M", 0.9)], value=0.5,
                           description="imbalance", continuous_update=False)
model = W.ToggleButtons(options=[("student + KD", "kd"), ("teacher", "teacher")], value="kd", description="model")
out = W.Output()
def update(*_): out.outputs = (png(slider.value, model.value),)
slider.observe(update, "value"); model.observe(update, "value"); update()
ui = W.VBox([slider, model, out]); ui.add_class("fairkd-explorer")
display(ui)'''
    cells = [{"cell_type": "markdown", "id": "standin-md", "metadata": {}, "source": "# Stand-in explorer"},
             {"cell_type": "code", "id": "standin-code", "metadata": {}, "execution_count": None, "outputs": [],
              "source": code},
             {"cell_type": "code", "id": "standin-end", "metadata": {}, "execution_count": None, "outputs": [],
              "source": "print('done')"}]
    return {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def _get(url: str, token: str, timeout: float = 5):
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=timeout) as r: return json.loads(r.read() or b"{}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    "JupyterLab on a free local port, serving a temporary copy of nbs/ (plus the stand-in), and a headless Chromium."
    from playwright.sync_api import sync_playwright
    tmp = tmp_path_factory.mktemp("browser")
    root = tmp / "nbs"
    shutil.copytree(ROOT / "nbs", root, ignore=shutil.ignore_patterns("_*", ".ipynb_checkpoints", "llms.txt"))
    (root / STANDIN).write_text(json.dumps(standin_notebook()))
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "JUPYTER_TOKEN")}
    env.update(IN_TEST="1", FAIRKD_RUNS=str(tmp / "runs"), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               JUPYTER_CONFIG_DIR=str(tmp / "jupyter_config"), JUPYTER_RUNTIME_DIR=str(tmp / "jupyter_runtime"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "jupyter_workspaces"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp / "jupyterlab_settings"))
    # every cell in the DOM (no windowing), the kernel started without asking, no news toast
    settings = {"@jupyterlab/notebook-extension/tracker.jupyterlab-settings":
                    {"windowingMode": "none", "autoStartDefaultKernel": True},
                "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"}}
    for name, value in settings.items():
        f = tmp / "jupyterlab_settings" / name
        f.parent.mkdir(parents=True, exist_ok=True); f.write_text(json.dumps(value))
    lab_bin = BIN / "jupyter-lab" if (BIN / "jupyter-lab").exists() else Path(shutil.which("jupyter-lab"))
    cmd = [str(lab_bin), "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
           f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.allow_root=True",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=None"]
    log = open(tmp / "jupyterlab.log", "w")
    t0 = time.time()
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{(tmp / 'jupyterlab.log').read_text()[-3000:]}")
            try:
                _get(f"{base}/api/status", token); break
            except OSError:
                if time.time() - t0 > 120: pytest.fail("jupyter lab did not answer within 120 s")
                time.sleep(0.5)
        print(f"\n[browser] jupyter lab up in {time.time() - t0:.1f} s on port {port}")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium(), headless=True,
                                         args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
            try:
                yield dict(base=base, token=token, browser=browser, tmp=tmp, root=root, log=tmp / "jupyterlab.log")
            finally:
                browser.close()
    finally:
        try:   # ask the server to stop (it shuts its kernels down), then make sure of it
            req = urllib.request.Request(f"{base}/api/shutdown", method="POST",
                                         headers={"Authorization": f"token {token}"})
            urllib.request.urlopen(req, timeout=5)
            proc.wait(timeout=20)
        except Exception:
            pass
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try: proc.wait(timeout=10)
            except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _kernel_state(lab, notebook: str) -> str | None:
    "execution_state of the kernel of `notebook`'s session, from the server's REST API (None: no session yet)."
    for sess in _get(f"{lab['base']}/api/sessions", lab["token"]):
        if sess.get("path") == notebook and sess.get("kernel"): return sess["kernel"].get("execution_state")
    return None


def _open_and_run_all(lab, notebook: str, timeout_s: float):
    "Open `notebook` in JupyterLab (its own fresh workspace), wait for its kernel, Run All Cells, wait for the end."
    ctx = lab["browser"].new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    t0 = time.time()
    ws = re.sub(r"\W", "-", Path(notebook).stem)
    page.goto(f"{lab['base']}/lab/workspaces/{ws}/tree/{notebook}?reset&token={lab['token']}")
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.locator(".jp-Cell").first.wait_for(timeout=120_000)
    deadline = time.time() + 120
    while _kernel_state(lab, notebook) != "idle":                        # kernel started and idle
        accept = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")   # a kernel chooser, if one shows
        if accept.count(): accept.first.click()
        if time.time() > deadline: pytest.fail(f"{notebook}: the kernel did not start within 120 s")
        time.sleep(0.5)
    time.sleep(1)
    t_open = time.time() - t0
    page.locator(".lm-MenuBar-item").filter(has_text=re.compile(r"^\s*Run\s*$")).first.click()
    page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()
    t1 = time.time()
    n_code = panel.locator(".jp-CodeCell").count()
    # done when every code cell shows [n]: and the kernel is idle; Run All stops at an error ([ ] remain)
    deadline = t1 + timeout_s
    while True:
        prompts = panel.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        ran = [p for p in prompts if re.fullmatch(r"\[\d+\]:", p.strip())]
        errors = panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'] "
                               "pre:has-text('Traceback')").count()
        state = _kernel_state(lab, notebook)
        if state == "idle" and (errors or len(ran) == n_code): break
        if time.time() > deadline:
            page.screenshot(path=str(lab["tmp"] / f"timeout_{ws}.png"))
            pytest.fail(f"{notebook}: Run All not finished after {timeout_s:.0f} s ({len(ran)}/{n_code} cells ran)")
        time.sleep(1)
    t_run = time.time() - t1
    tracebacks = panel.locator(".jp-OutputArea-output pre:has-text('Traceback')").all_inner_texts()
    assert not tracebacks, f"{notebook}: error output in JupyterLab:\n" + "\n---\n".join(t[-1500:] for t in tracebacks)
    assert len(ran) == n_code, f"{notebook}: only {len(ran)} of {n_code} code cells ran"
    print(f"[browser] {notebook}: opened with its kernel in {t_open:.1f} s, Run All of {n_code} code cells in {t_run:.1f} s")
    return ctx, page, panel


def _explorer_slider_moves_plot(lab, page, panel, name: str):
    "The first `.fairkd-explorer`: its first control is a slider described 'imbalance'; dragging it changes the PNG."
    explorer = panel.locator(".fairkd-explorer").first
    explorer.scroll_into_view_if_needed()
    first = explorer.locator(":scope > *").first
    classes = first.get_attribute("class") or ""
    assert "slider" in classes, f"first control of the explorer is not a slider: class={classes!r}"
    label = first.locator(".widget-label").first.inner_text().strip()
    assert "imbalance" in label.lower(), f"first control is described {label!r}, not 'imbalance'"
    img = explorer.locator(".jp-OutputArea-output img").first
    img.wait_for(state="visible", timeout=60_000)
    src0 = img.get_attribute("src") or ""
    assert src0.startswith("data:image/png;base64,"), f"explorer plot is not an embedded PNG: {src0[:40]!r}"
    readout = first.locator(".widget-readout").first
    r0 = readout.inner_text().strip()
    before = lab["tmp"] / f"{name}_explorer_before.png"
    explorer.screenshot(path=str(before))

    handle = first.locator(".noUi-handle").first
    track = first.locator(".noUi-target").first
    hb, tb = handle.bounding_box(), track.bounding_box()
    assert hb and tb, "slider handle/track not laid out"
    hx, hy = hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2
    to_x = tb["x"] + tb["width"] - 1 if hx < tb["x"] + tb["width"] / 2 else tb["x"] + 1   # to the far end
    page.mouse.move(hx, hy); page.mouse.down(); page.mouse.move(to_x, hy, steps=12); page.mouse.up()
    t0 = time.time()
    src1 = src0
    while time.time() - t0 < 60:
        src1 = img.get_attribute("src") or "" if img.count() else ""
        if src1 and src1 != src0: break
        time.sleep(0.25)
    r1 = readout.inner_text().strip()
    after = lab["tmp"] / f"{name}_explorer_after.png"
    explorer.screenshot(path=str(after))
    full = lab["tmp"] / f"{name}_page.png"
    page.screenshot(path=str(full))
    print(f"[browser] {name}: readout {r0!r} -> {r1!r} in {time.time() - t0:.1f} s; screenshots {before}, {after}, {full}")
    assert r1 != r0, f"dragging the slider did not change its value (readout {r0!r})"
    assert src1.startswith("data:image/png;base64,") and src1 != src0, \
        f"the explorer's plot did not change after the slider moved ({r0!r} -> {r1!r})"
    return before, after


def test_standin_explorer(lab):
    "The harness on a stand-in with the tutorial's widget structure: JupyterLab, Run All, drag, the PNG changes."
    ctx, page, panel = _open_and_run_all(lab, STANDIN, 120)
    try:
        _explorer_slider_moves_plot(lab, page, panel, "standin")
    finally:
        ctx.close()


@pytest.mark.skipif(not (ROOT / "nbs" / TUTORIAL).exists(), reason=f"nbs/{TUTORIAL} not written yet")
def test_tutorial_explorer(lab):
    "The tutorial, run top to bottom in JupyterLab (smoke preset), and its first explorer driven with the mouse."
    ctx, page, panel = _open_and_run_all(lab, TUTORIAL, RUN_TIMEOUT_S)
    try:
        _explorer_slider_moves_plot(lab, page, panel, "tutorial")
    finally:
        ctx.close()

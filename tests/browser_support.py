"""Helpers of the browser test (tests/course/test_browser.py): JupyterLab + headless Chromium.

- :class:`JupyterLab` starts ``python -m jupyterlab`` of this interpreter on a free
  127.0.0.1 port (no token, no browser, root dir = a temporary copy of the student
  notebooks, its own config/data/runtime/settings/workspace folders) and always stops it;
- :func:`start_chromium` starts Debian's chromium through Debian's chromedriver (explicit
  paths, so Selenium Manager never downloads anything);
- :func:`run_notebook_in_lab` opens one notebook in the JupyterLab UI (File > Open from
  Path...), runs it with the menu Run > Run All Cells, waits for the kernel, checks the
  outputs, moves every control of every interactive widget through the front end (the
  first one must change the figure), saves the screenshots, saves and closes the notebook,
  and returns a :class:`NotebookReport` (``report.problems`` empty when all is well).

Every wait has a deadline. Kernel and document state are read through ``window.jupyterapp``
(``--LabApp.expose_app_in_browser``); everything the test *does* goes through the DOM
(menus, sliders, dropdowns, keyboard), and every check reads what the DOM shows.
"""
from __future__ import annotations

import ast
import base64
import http.cookiejar
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]

SKIP_REASON = (
    "browser test skipped: no chromium/chromedriver (apt-get install chromium chromium-driver), "
    "set DUALKD_REQUIRE_BROWSER=1 to make it mandatory"
)
REQUIRE_ENV_VAR = "DUALKD_REQUIRE_BROWSER"
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-default-apps", "--disable-extensions", "--mute-audio",
    "--hide-scrollbars",
)
WINDOW = (1400, 1000)

#: JupyterLab user settings of the test server: no news/update toasts over the notebook, every
#: cell in the DOM (no virtual scrolling), no extension manager (it would ask PyPI).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none", "scrollPastEnd": False},
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
}


def _executable(env_var: str, name: str, debian_path: str) -> str | None:
    """``$env_var`` when set (exactly that file), else Debian's path, else ``name`` on PATH."""
    chosen = os.environ.get(env_var)
    for candidate in ([chosen] if chosen else [debian_path, shutil.which(name)]):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def chromium_paths() -> tuple[str, str] | None:
    """``(chromium, chromedriver)``, or None when either is missing.

    Debian's ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (same version, from the
    ``chromium`` and ``chromium-driver`` packages), else the ones on PATH;
    ``$DUALKD_CHROMIUM`` / ``$DUALKD_CHROMEDRIVER`` name other files.
    """
    chromium = _executable("DUALKD_CHROMIUM", "chromium", "/usr/bin/chromium")
    driver = _executable("DUALKD_CHROMEDRIVER", "chromedriver", "/usr/bin/chromedriver")
    return (chromium, driver) if chromium and driver else None


def browser_required() -> bool:
    return os.environ.get(REQUIRE_ENV_VAR, "") == "1"


# --------------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_student_notebooks(dest: Path, root: Path = ROOT) -> list[Path]:
    """Copy ``notebooks/NN_*.ipynb`` (the student variant) to ``dest``; return the copies, in order."""
    dest.mkdir(parents=True, exist_ok=True)
    copies = []
    for nb in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        copies.append(Path(shutil.copy2(nb, dest / nb.name)))
    return copies


def lab_environment(preset: str, home: Path) -> dict[str, str]:
    """The server's environment (kernels inherit it): as ``dualkd_lib.course.run.run_notebooks`` plus its own Jupyter dirs."""
    env = dict(os.environ)
    env.update({
        "DUALKD_PRESET": preset, "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "TQDM_MININTERVAL": "2",
        # nothing from the user's ~/.jupyter or ~/.local/share/jupyter
        "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"), "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("JUPYTER_TOKEN", None)
    env.pop("BROWSER", None)
    for name, value in LAB_SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value), encoding="utf-8")
    return env


class JupyterLab:
    """``python -m jupyterlab`` on 127.0.0.1 serving ``root_dir``; use as a context manager."""

    def __init__(self, root_dir: Path, env: dict[str, str], log_path: Path, *, start_timeout: float = 120.0) -> None:
        self.root_dir, self.env, self.log_path, self.start_timeout = root_dir, env, log_path, start_timeout
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self._log: Any = None
        self._opener: Any = None
        self._cookies: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "JupyterLab":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        last = ""
        for _attempt in range(3):  # a free port can be taken between free_port() and the bind
            self.port = free_port()
            cmd = [
                sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
                "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=",
                "--ServerApp.allow_root=True", f"--ServerApp.root_dir={self.root_dir}",
                "--ServerApp.open_browser=False", "--LabApp.expose_app_in_browser=True",
                "--LabApp.news_url=", "--ServerApp.shutdown_no_activity_timeout=900",
                "--MappingKernelManager.cull_idle_timeout=0",
            ]
            self._log.write(f"\n$ {' '.join(cmd)}\n".encode())
            self._log.flush()
            self.proc = subprocess.Popen(cmd, cwd=self.root_dir, env=self.env, stdout=self._log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    self.api("GET", "/api/status", timeout=2)
                    return
                except (urllib.error.URLError, OSError, ValueError):
                    time.sleep(0.5)
            last = self.log_tail()
            self._kill()
        raise RuntimeError(f"JupyterLab did not start within {self.start_timeout:.0f} s; its log:\n{last}")

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def api(self, method: str, path: str, *, timeout: float = 10.0) -> Any:
        """A REST call; other than GET with the server's ``_xsrf`` cookie echoed in ``X-XSRFToken``."""
        if self._opener is None:
            self._cookies = http.cookiejar.CookieJar()
            self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self._cookies))
        headers = {}
        if method != "GET":
            if not any(c.name == "_xsrf" for c in self._cookies):
                self._opener.open(self.url + "/lab", timeout=timeout).read()  # sets the _xsrf cookie
            headers["X-XSRFToken"] = next((c.value for c in self._cookies if c.name == "_xsrf"), "")
        req = urllib.request.Request(self.url + path, method=method, headers=headers)
        with self._opener.open(req, timeout=timeout) as resp:  # 127.0.0.1 only
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_sessions(self, path: str | None = None) -> list[str]:
        """Shut down the kernel sessions (of notebook ``path``, or all); returns the errors, if any."""
        errors = []
        try:
            sessions = self.api("GET", "/api/sessions", timeout=5)
        except (urllib.error.URLError, OSError, ValueError) as err:
            return [f"GET /api/sessions: {err}"]
        for session in sessions:
            if path is None or session.get("path") == path:
                try:
                    self.api("DELETE", f"/api/sessions/{session['id']}", timeout=30)
                except (urllib.error.URLError, OSError, ValueError, KeyError) as err:
                    errors.append(f"DELETE /api/sessions/{session.get('id')}: {err}")
        return errors

    def _kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)  # its own session (start_new_session): the server and its children
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.shutdown_sessions()  # kernels run in sessions of their own: stop them through the server
        self._kill()
        if self._log is not None:
            self._log.close()
            self._log = None


# --------------------------------------------------------------------------- the browser
def start_chromium(user_data_dir: Path, *, window: tuple[int, int] = WINDOW) -> Any:
    """A headless Chromium driven by chromedriver, both from explicit paths (no Selenium Manager)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = chromium_paths()
    if paths is None:
        raise RuntimeError(SKIP_REASON)
    chromium, chromedriver = paths
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    options.add_argument(f"--window-size={window[0]},{window[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.set_capability("unhandledPromptBehavior", "accept")
    service = Service(chromedriver, log_output=str(user_data_dir.parent / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(120)
    driver.set_script_timeout(60)
    driver.set_window_size(*window)
    # the window size includes the (headless) browser frame: make the page itself window[0] x window[1]
    _set_viewport(driver, *window)
    return driver


# --------------------------------------------------------------------------- one notebook
@dataclass
class WidgetReport:
    """One ``ipywidgets.interactive`` of a notebook, as the browser showed it."""

    cell: int  # index of the cell in the notebook (0-based, all cells)
    control: str = ""  # description + kind of the first control, e.g. "clip (slider)"
    rendered: bool = False  # every control shows a value and the output shows a figure
    changed: bool = False  # moving the first control changed the figure (another <img> src)
    before: str = ""  # the first control's value before / after
    after: str = ""
    note: str = ""  # what went wrong
    others: list[str] = field(default_factory=list)  # the other controls, each moved once
    others_ok: bool = True  # each of them re-drew the figure, without an error

    @property
    def ok(self) -> bool:
        return self.rendered and self.changed and self.others_ok

    def line(self) -> str:
        state = ("rendered" if self.rendered else "NOT rendered") + (
            ", figure changed" if self.changed else ", figure NOT changed")
        text = f"cell {self.cell}: {self.control or '?'} {self.before!r} -> {self.after!r}: {state}" + (
            f" ({self.note})" if self.note else "")
        return text + "".join(f"; then {o}" for o in self.others)


@dataclass
class NotebookReport:
    name: str
    seconds: float = 0.0  # Run All Cells until idle
    total_seconds: float = 0.0  # open + run + checks + screenshots
    code_cells: int = 0
    executed: int = 0
    stubs_raised: int = 0
    widgets: list[WidgetReport] = field(default_factory=list)
    other_widgets: int = 0  # widget views that are not interactive (progress bars, ...)
    stderr: list[str] = field(default_factory=list)  # stderr text shown (warnings), not failures
    screenshots: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # seconds of open, run, checks, screenshot, ...

    def summary(self) -> str:
        w = ", ".join(f"{x.control}: {'ok' if x.ok else 'FAIL'}" for x in self.widgets) or "none"
        return (f"{self.name}: run {self.seconds:.1f} s (total {self.total_seconds:.1f} s), "
                f"{self.executed}/{self.code_cells} code cells executed, {self.stubs_raised} stub errors tolerated, "
                f"widgets: {w}; {len(self.problems)} problem(s); phases (s): "
                + " ".join(f"{k} {v:.1f}" for k, v in self.phases.items()))


def expected_widget_cells(notebook: Path) -> list[int]:
    """Cells whose last statement calls ``*.interactive*(...)``: each shows one interactive widget."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    hits = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        last = tree.body[-1] if tree.body else None
        if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
            func = last.value.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name.startswith("interactive"):
                hits.append(i)
    return hits


# JavaScript run in the page. The current notebook panel and its state, in one round trip.
_STATE_JS = r"""
const app = window.jupyterapp;
if (!app || !app.shell) return {app: false};
const w = app.shell.currentWidget;
if (!w || !w.node || !w.node.classList.contains('jp-NotebookPanel')) return {app: true, panel: false};
const ctx = w.sessionContext;
const kernel = ctx && ctx.session ? ctx.session.kernel : null;
const cells = [...w.node.querySelectorAll('.jp-Notebook .jp-Cell')];
const prompts = [];
cells.forEach((c, i) => {
  if (!c.classList.contains('jp-CodeCell')) return;
  const p = c.querySelector('.jp-InputArea-prompt');
  prompts.push([i, p ? p.innerText.trim() : '']);
});
return {
  app: true, panel: true, path: w.context.path, ready: w.context.isReady && ctx.isReady,
  dirty: w.context.model.dirty, kernel: kernel ? kernel.status : null,
  connection: kernel ? kernel.connectionStatus : null, cells: cells.length, prompts: prompts,
  dialogs: [...document.querySelectorAll('.jp-Dialog')].map(d => d.innerText.slice(0, 300)),
};
"""

# Every output the notebook shows: [cell index, mime type, text, is inside a widget output]
_OUTPUTS_JS = r"""
const w = window.jupyterapp.shell.currentWidget;
const cells = [...w.node.querySelectorAll('.jp-Notebook .jp-Cell')];
const out = [];
cells.forEach((c, i) => {
  c.querySelectorAll('.jp-OutputArea-output').forEach(o => {
    out.push([i, o.getAttribute('data-mime-type') || '', (o.innerText || '').slice(0, 6000),
              !!o.closest('.widget-output')]);
  });
});
return out;
"""

# The interactive widgets: cell index and the data of the figure of each.
_WIDGETS_JS = r"""
const w = window.jupyterapp.shell.currentWidget;
const cells = [...w.node.querySelectorAll('.jp-Notebook .jp-Cell')];
const found = [];
cells.forEach((c, i) => {
  c.querySelectorAll('.widget-interact').forEach(x => {
    const imgs = [...x.querySelectorAll('.widget-output img')].map(im => im.getAttribute('src') || '');
    found.push({cell: i, imgs: imgs, text: (x.innerText || '').slice(0, 2000)});
  });
});
const views = [...w.node.querySelectorAll('.jp-OutputArea-output .jupyter-widgets')].filter(
  v => !v.closest('.widget-interact') && !v.parentElement.closest('.jupyter-widgets')).length;
return {interact: found, other_views: views};
"""

_ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|^\s*-{20,}\s*$", re.M)
_ENAME = re.compile(r"^\s*(?:-+\s*)?([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit))\b", re.M)
_STUB = re.compile(r"NotImplementedError\W+Exercise \d+\.\d+", re.S)
_WIDGET_REPR = re.compile(r"^(?:interactive|VBox|HBox|IntSlider|FloatSlider|SelectionSlider|Dropdown|Output)\(")
_WIDGET_BROKEN = ("Error displaying widget", "Loading widget...", "model not found", "Failed to load model class")


def _wait(what: str, predicate: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _state(driver: Any) -> dict:
    try:
        return driver.execute_script(_STATE_JS) or {}
    except Exception as err:  # noqa: BLE001 (a page being replaced)
        return {"error": str(err)}


def click_menu(driver: Any, menu: str, label: str, timeout: float = 30.0) -> None:
    """Click the top menu ``menu`` (e.g. "Run"), then its item ``label``: its command or its text.

    E.g. ``click_menu(driver, "Run", "runmenu:run-all")`` is the menu item "Run All Cells".
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    deadline = time.monotonic() + timeout
    while True:
        bars = [b for b in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item") if b.text.strip() == menu]
        if bars:
            bars[0].click()
            end = time.monotonic() + 5
            while time.monotonic() < end:
                items = driver.execute_script(
                    "return [...document.querySelectorAll('.lm-MenuBar-menu .lm-Menu-item')].filter(e =>"
                    " e.offsetParent !== null && (e.dataset.command === arguments[0] ||"
                    " (e.querySelector('.lm-Menu-itemLabel') || {}).innerText === arguments[0]));",
                    label)
                if items:
                    if "lm-mod-disabled" in (items[0].get_attribute("class") or ""):
                        raise RuntimeError(f"menu {menu} > {label} is disabled")
                    items[0].click()
                    return
                time.sleep(0.2)
            driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s looking for the menu item {menu} > {label}")
        time.sleep(0.5)


def _close_left_sidebar(driver: Any) -> None:
    """Collapse the file browser (a click on its active tab), so the notebook gets the window's width."""
    from selenium.webdriver.common.by import By

    tabs = driver.find_elements(By.CSS_SELECTOR, ".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if tabs:
        tabs[0].click()
        try:
            _wait("the left sidebar to close", lambda: driver.execute_script(
                "const s = document.querySelector('#jp-left-stack'); return !s || s.classList.contains('lm-mod-hidden');"),
                5, 0.2)
        except TimeoutError:
            pass  # cosmetic only


def _set_viewport(driver: Any, width: int, height: int) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": int(width), "height": int(height), "deviceScaleFactor": 1, "mobile": False})


def _open_from_path(driver: Any, lab: JupyterLab, path: str) -> bool:
    """File > Open from Path..., type ``path``, Enter; False when there is no usable JupyterLab page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    state = _state(driver)
    if not state.get("app") or state.get("panel") or state.get("dialogs"):
        return False
    if not driver.current_url.startswith(lab.url):
        return False
    try:
        click_menu(driver, "File", "filebrowser:open-path", timeout=10)
        field = _wait("the Open from Path dialog", lambda: next(iter(
            driver.find_elements(By.CSS_SELECTOR, ".jp-Dialog input")), None), 10, 0.2)
        field.send_keys(path, Keys.ENTER)
        return True
    except Exception:  # noqa: BLE001 (fall back to loading the page)
        return False


def _scroller(driver: Any) -> Any:
    return driver.execute_script(
        "const w = window.jupyterapp.shell.currentWidget;"
        "return w.node.querySelector('.jp-WindowedPanel-outer') || w.content.node;")


def screenshot_notebook(driver: Any, path: Path, *, max_height: int = 20000, tall_viewport: int = 8000) -> list[Path]:
    """The whole notebook as one tall PNG: scroll its panel a screen at a time and stitch the shots.

    JupyterLab scrolls inside the notebook panel (the page itself never scrolls), so a
    "full page" screenshot of the page shows one screen only. The menu bar, tab and notebook
    toolbar head the image. Past ``max_height`` px the rest goes to ``path`` with ``_2``,
    ``_3`` ... suffixes. Returns the files written.
    """
    from PIL import Image

    driver.execute_script(  # the toolbar's shadow would draw a line at every seam
        "if (!document.getElementById('dualkd-shot')) { const st = document.createElement('style');"
        " st.id = 'dualkd-shot'; st.textContent = '.jp-Toolbar { box-shadow: none !important; }';"
        " document.head.appendChild(st); }")
    scroller = _scroller(driver)
    win_w, win_h = driver.execute_script("return [window.innerWidth, window.innerHeight];")
    total, client = driver.execute_script("return [arguments[0].scrollHeight, arguments[0].clientHeight];", scroller)
    # one tall viewport (up to tall_viewport px) instead of many screens: far fewer screenshots
    tall = int(min(win_h + max(total - client, 0), tall_viewport))
    _set_viewport(driver, win_w, tall)
    try:
        _wait("the notebook to fill the tall viewport", lambda: driver.execute_script(
            "return arguments[0].clientHeight;", scroller) >= min(total, client + tall - win_h) - 2, 10, 0.2)
    except TimeoutError:
        pass  # stitch whatever the viewport shows
    try:
        left, top, width, height, total, dpr = driver.execute_script(
            "const r = arguments[0].getBoundingClientRect();"
            "return [r.left, r.top, r.width, arguments[0].clientHeight, arguments[0].scrollHeight,"
            " window.devicePixelRatio || 1];", scroller)
        height = int(height)
        driver.execute_script("arguments[0].scrollTop = 0;", scroller)
        first = Image.open(io.BytesIO(driver.get_screenshot_as_png()))
        header = first.crop((0, 0, first.width, int(top * dpr)))  # menu bar, tabs, notebook toolbar
        box = (int(left * dpr), int(top * dpr), int((left + width) * dpr), int((top + height) * dpr))
        strips, y = [], 0
        while y < total and height > 0:
            driver.execute_script("arguments[0].scrollTop = arguments[1];", scroller, y)
            actual = driver.execute_script("return arguments[0].scrollTop;", scroller)
            shot = first if y == 0 and actual == 0 else Image.open(io.BytesIO(driver.get_screenshot_as_png()))
            shot = shot.crop(box)
            # this screen shows content [actual, actual + height); keep [y, y + height) of it
            lo, hi = int((y - actual) * dpr), int((min(y + height, total) - actual) * dpr)
            if hi > lo:
                strips.append(shot.crop((0, max(lo, 0), shot.width, min(hi, shot.height))))
            y += height
    finally:
        driver.execute_script("arguments[0].scrollTop = 0;", scroller)
        _set_viewport(driver, win_w, win_h)
    written, part, current = [], 1, [header]
    for strip in [*strips, None]:
        used = sum(img.height for img in current)
        if strip is None or (used + strip.height > max_height and len(current) > 1):
            canvas = Image.new("RGB", (first.width, max(used, 1)), "white")
            offset = 0
            for img in current:
                canvas.paste(img, (0 if img is header else box[0], offset))
                offset += img.height
            target = path if part == 1 else path.with_name(f"{path.stem}_{part}{path.suffix}")
            target.parent.mkdir(parents=True, exist_ok=True)
            canvas.save(target, optimize=False)
            written.append(target)
            if strip is None:
                break
            part, current = part + 1, []
        current.append(strip)
    return written


def _classify_outputs(outputs: list[list], report: NotebookReport, widget_cells: set[int],
                      stub_cells: set[int]) -> None:
    """Sort what the output areas show into problems, tolerated stub errors and plain stderr.

    An error output is tolerated only as a ``NotImplementedError("Exercise N.M: ...")`` of a
    cell tagged ``raises-exception`` (the student variant's stubs); stderr text that is no
    traceback (warnings) is kept in ``report.stderr``, not a failure.
    """
    for cell, mime, text, in_widget in outputs:
        where = f"cell {cell}" + (" (widget output)" if in_widget else "")
        if any(marker in text for marker in _WIDGET_BROKEN):
            report.problems.append(f"{where}: a widget did not render: {text.strip()[:300]!r}")
            continue
        if mime == "text/plain" and _WIDGET_REPR.match(text.strip()) and cell in widget_cells:
            report.problems.append(f"{where}: the widget shows as its text repr (no widget front end): "
                                   f"{text.strip()[:200]!r}")
            continue
        if mime not in ("application/vnd.jupyter.stderr", "application/vnd.jupyter.error"):
            continue
        is_error = mime == "application/vnd.jupyter.error" or bool(_ERROR_TEXT.search(text))
        if not is_error:
            report.stderr.append(f"{where}: {text.strip()[:500]}")
            continue
        names = _ENAME.findall(text)
        if cell in stub_cells and not in_widget and names[:1] == ["NotImplementedError"] and _STUB.search(text):
            report.stubs_raised += 1
            continue
        report.problems.append(f"{where}: error output {names[0] if names else ''}:\n{text.strip()[-3000:]}")


_WIDGET_JS = r"""
// The index-th interactive widget: its controls (kind, label, shown value) and its figures.
const boxes = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .widget-interact');
const box = boxes[arguments[0]];
if (!box) return null;
// (a SelectionSlider's element lacks the jupyter-widgets class: take every child but the output)
const controls = [...box.children].filter(c => c.classList.contains('lm-Widget') &&
                                             !c.classList.contains('widget-output'));
const describe = (c) => {
  const readout = c.querySelector('.widget-readout'), select = c.querySelector('select'),
        check = c.querySelector('input[type=checkbox]'), handle = c.querySelector('.noUi-handle'),
        label = c.querySelector('.widget-label');
  const clean = (t) => (t || '').replace(/\u200b/g, '').replace(/\u00a0/g, ' ').trim();
  let value = null;
  if (readout) value = clean(readout.innerText);
  else if (select) value = select.selectedIndex >= 0 ? clean(select.options[select.selectedIndex].text) : '';
  else if (check) value = String(check.checked);
  return {
    kind: c.classList.contains('widget-slider') ? 'slider' : c.classList.contains('widget-dropdown') ? 'dropdown'
          : c.classList.contains('widget-checkbox') ? 'checkbox' : c.className,
    label: clean(label ? label.innerText : '') || clean(check && check.parentElement ? check.parentElement.innerText : ''),
    value: value,
    at_max: handle ? handle.getAttribute('aria-valuenow') === handle.getAttribute('aria-valuemax') : false,
  };
};
const imgs = [...box.querySelectorAll('.widget-output img')];
return {
  controls: controls.map(describe),
  imgs: imgs.map(im => im.getAttribute('src') || ''),
  fresh: imgs.filter(im => !im.hasAttribute('data-dualkd-seen')).length,
  errors: [...box.querySelectorAll('.widget-output [data-mime-type="application/vnd.jupyter.stderr"]')]
          .map(e => e.innerText.slice(-1500)),
};
"""


def _control(driver: Any, index: int, k: int, css: str) -> Any:
    """A fresh handle on (an element of) control ``k`` of the ``index``-th interactive widget."""
    return driver.execute_script(
        "const box = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .widget-interact')[arguments[0]];"
        "const c = [...box.children].filter(c => c.classList.contains('lm-Widget') &&"
        " !c.classList.contains('widget-output'))[arguments[1]];"
        "return c.matches(arguments[2]) ? c : c.querySelector(arguments[2]);", index, k, css)


def _move(driver: Any, index: int, k: int, control: dict) -> bool:
    """Move control ``k`` one step through the page: a slider with the keyboard arrow on its focused
    handle (left at the maximum), a dropdown to its next option, a checkbox clicked. False: unknown kind."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", _control(driver, index, k, ".lm-Widget"))
    if control["kind"] == "slider":
        handle = _control(driver, index, k, ".noUi-handle")
        driver.execute_script("arguments[0].focus();", handle)
        handle.send_keys(Keys.ARROW_LEFT if control["at_max"] else Keys.ARROW_RIGHT)
    elif control["kind"] == "dropdown":
        select = Select(_control(driver, index, k, "select"))
        texts = [" ".join(o.text.replace("\u00a0", " ").split()) for o in select.options]
        current = texts.index(control["value"]) if control["value"] in texts else 0
        select.select_by_index(current + 1 if current + 1 < len(texts) else current - 1)
    elif control["kind"] == "checkbox":
        _control(driver, index, k, "input[type=checkbox]").click()
    else:
        return False
    return True


def exercise_widget(driver: Any, index: int, cell: int, timeout: float) -> WidgetReport:
    """Check the ``index``-th interactive widget of the page, then move each of its controls once.

    Rendered: every control shows a value (a Dropdown with ``value=None`` shows an empty menu)
    and the output shows a figure (<img>). The first control must change the figure (another
    ``src``); each other control, in turn, must re-draw it (a new <img>, no error), since one
    step of those may leave the picture as it was. The page is read afresh at every poll: the
    widget's output area is re-built on every change.
    """
    rep = WidgetReport(cell=cell)
    state = driver.execute_script(_WIDGET_JS, index)
    if state is None:
        rep.note = "the widget is gone from the page"
        return rep
    controls = state["controls"]
    if not controls:
        rep.note = "no controls in the widget"
        return rep
    first = controls[0]
    rep.control, rep.before = f"{first['label']} ({first['kind']})", first["value"] or ""
    blank = [f"{c['label']} ({c['kind']})" for c in controls if not c["value"]]
    if blank:
        rep.note = f"control(s) showing no value: {', '.join(blank)}"
        return rep
    if not state["imgs"]:
        rep.note = "no figure (<img>) in the widget's output" + (
            f"; it shows an error: {state['errors'][0]}" if state["errors"] else "")
        return rep
    rep.rendered = True

    for k, control in enumerate(controls):
        before = driver.execute_script(_WIDGET_JS, index)
        driver.execute_script(  # mark the figures shown now, to see the next ones arrive
            "document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .widget-interact')[arguments[0]]"
            ".querySelectorAll('.widget-output img').forEach(im => im.setAttribute('data-dualkd-seen', '1'));", index)
        old_src = before["imgs"][0] if before["imgs"] else ""
        if not _move(driver, index, k, control):
            msg = f"{control['label']} ({control['kind']}): a control the test cannot move"
            if k == 0:
                rep.note = msg
                return rep
            rep.others.append(msg)
            continue

        def arrived(k: int = k) -> dict | None:
            now = driver.execute_script(_WIDGET_JS, index) or {}
            if now.get("errors"):
                return now
            imgs = now.get("imgs") or []
            if k == 0:
                return now if imgs and imgs[0] and imgs[0] != old_src else None
            return now if imgs and now.get("fresh") else None

        what = "change" if k == 0 else "be re-drawn"
        try:
            now = _wait(f"the figure of the widget in cell {cell} to {what}", arrived, timeout, 0.3)
            note = ("the callback failed: " + now["errors"][0]) if now.get("errors") else ""
            good = not note
            if good and image_size(now["imgs"][0]) is None:
                good, note = False, f"the new figure is not a PNG: {now['imgs'][0][:80]!r}"
        except TimeoutError as err:
            good, note = False, str(err)
            now = driver.execute_script(_WIDGET_JS, index) or {}
        value = (now.get("controls") or [{}] * (k + 1))[k].get("value") or ""
        if value == control["value"]:
            good, note = False, (note + "; " if note else "") + "the control's value did not change"
        if k == 0:
            rep.changed, rep.after, rep.note = good, value, note
        else:
            rep.others.append(f"{control['label']} ({control['kind']}) {control['value']!r} -> {value!r}: "
                              + ("re-drawn" if good else f"FAILED ({note})"))
            rep.others_ok &= good
    return rep


def run_notebook_in_lab(
    driver: Any,
    lab: JupyterLab,
    notebook: Path,
    shots_dir: Path,
    *,
    run_timeout: float = 420.0,
    open_timeout: float = 120.0,
    widget_timeout: float = 60.0,
) -> NotebookReport:
    """Open ``notebook`` (a file in the server's root) in JupyterLab, run it through the UI, check it.

    Never raises for what it finds: every finding goes to ``report.problems``.
    """
    name = notebook.stem
    report = NotebookReport(name)
    start = mark = time.monotonic()

    def phase(label: str) -> None:
        nonlocal mark
        now = time.monotonic()
        report.phases[label] = report.phases.get(label, 0.0) + now - mark
        mark = now

    nb_json = json.loads(notebook.read_text(encoding="utf-8"))
    n_cells = len(nb_json["cells"])
    report.code_cells = sum(c["cell_type"] == "code" for c in nb_json["cells"])
    widget_cells = expected_widget_cells(notebook)

    # 1. open it: File > Open from Path... in the JupyterLab page left by the previous notebook, else
    # (or when that does not work) a fresh page (?reset: no tabs restored)
    def opened() -> bool:
        s = _state(driver)
        if s.get("panel") and "page" not in report.phases:
            phase("page")  # the JupyterLab page is up with the notebook's panel; then its kernel
        return bool(s.get("panel") and s.get("path") == notebook.name and s.get("ready") and s.get("cells") == n_cells
                    and s.get("kernel") == "idle" and s.get("connection") == "connected")

    in_page = _open_from_path(driver, lab, notebook.name)
    if in_page:
        try:
            _wait(f"{notebook.name} to open with an idle kernel", opened, min(45.0, open_timeout))
        except TimeoutError:
            in_page = False
    if not in_page:
        driver.get(f"{lab.url}/lab/tree/{notebook.name}?reset")
        try:
            _wait(f"{notebook.name} to open with an idle kernel", opened, open_timeout)
        except TimeoutError as err:
            report.problems.append(f"{err}; page state: {_state(driver)}")
            _save_failure_shot(driver, shots_dir / f"{name}_failed_open.png", report)
            return report
    _close_left_sidebar(driver)
    phase("kernel")

    # 2. Run > Run All Cells, then wait: every code cell numbered, nothing queued ([*]), kernel idle
    click_menu(driver, "Run", "runmenu:run-all")  # Run All Cells
    numbered = re.compile(r"\[\d+\]:")
    idle_since: list[float] = []
    lost: list[float] = []

    def finished() -> dict | None:
        s = _state(driver)
        if s.get("error") or not s.get("panel"):  # the page is gone (browser crashed, page reloaded)?
            lost[:] = lost or [time.monotonic()]
            if time.monotonic() - lost[0] > 30:
                raise RuntimeError(f"lost the notebook's page for 30 s while {name} ran: {s}")
            return None
        lost.clear()
        if s.get("kernel") in ("dead", "unknown") or s.get("connection") == "disconnected":
            raise RuntimeError(f"the kernel of {name} is {s.get('kernel')} / {s.get('connection')}")
        if s.get("dialogs"):
            raise RuntimeError(f"a dialog opened in {name}: {s['dialogs']}")
        prompts = [p for _, p in s.get("prompts", [])]
        if not prompts or s.get("kernel") != "idle" or any("*" in p for p in prompts):
            idle_since.clear()
            return None
        if all(numbered.fullmatch(p) for p in prompts):
            return s
        # idle, nothing queued, cells never run: JupyterLab stopped after an error; accept once it stays so
        idle_since[:] = idle_since or [time.monotonic()]
        return s if time.monotonic() - idle_since[0] > 10 else None

    try:
        state = _wait(f"{name} to finish running (all cells executed, kernel idle)", finished, run_timeout, 1.0)
    except (TimeoutError, RuntimeError) as err:
        report.problems.append(str(err))
        state = _state(driver)
    report.seconds = time.monotonic() - mark
    phase("run")
    prompts = state.get("prompts", [])
    report.executed = sum(bool(numbered.fullmatch(p)) for _, p in prompts)
    not_run = [i for i, p in prompts if not numbered.fullmatch(p)]
    if not_run:
        report.problems.append(f"cells without an execution count after Run All: {not_run}")

    # 3. what the page shows: errors, widgets (each interactive widget with its first figure)
    def widgets_drawn() -> dict | None:
        found = driver.execute_script(_WIDGETS_JS)
        ok = [w["cell"] for w in found["interact"]] == widget_cells and all(w["imgs"] for w in found["interact"])
        return found if ok else None

    try:
        found = _wait("every interactive widget to show its figure", widgets_drawn, 30 if widget_cells else 0, 0.5)
    except TimeoutError:
        found = driver.execute_script(_WIDGETS_JS)
    stub_cells = {i for i, c in enumerate(nb_json["cells"]) if "raises-exception" in c.get("metadata", {}).get("tags", [])}
    _classify_outputs(driver.execute_script(_OUTPUTS_JS), report, set(widget_cells), stub_cells)
    report.other_widgets = found["other_views"]
    seen = [w["cell"] for w in found["interact"]]
    if seen != widget_cells:
        report.problems.append(f"interactive widgets expected in cells {widget_cells}, shown in cells {seen}")
    for w in found["interact"]:
        if not w["imgs"]:
            report.problems.append(f"cell {w['cell']}: the interactive widget shows no figure; it shows "
                                   f"{w['text'][:300]!r}")
    phase("checks")

    # 4. the notebook as run, before any widget is moved
    try:
        report.screenshots += screenshot_notebook(driver, shots_dir / f"{name}.png")
    except Exception as err:  # noqa: BLE001 (a screenshot is no reason to stop)
        report.problems.append(f"screenshot failed: {type(err).__name__}: {err}")
    phase("screenshot")

    # 5. move the first control of every interactive widget; its figure must change
    for k, w in enumerate(found["interact"]):
        try:
            rep = exercise_widget(driver, k, w["cell"], widget_timeout)
        except Exception as err:  # noqa: BLE001 (report it with the notebook, carry on)
            message = getattr(err, "msg", None) or str(err)
            rep = WidgetReport(cell=w["cell"], note=f"{type(err).__name__}: {message.splitlines()[0][:500]}")
        report.widgets.append(rep)
        if not rep.ok:
            report.problems.append(f"widget {rep.line()}")
        target = shots_dir / f"{name}_widget{k + 1}.png"  # the widget after the move
        try:
            driver.execute_script(
                "const b = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .widget-interact')"
                "[arguments[0]]; if (b) b.scrollIntoView({block: 'start'});", k)
            driver.save_screenshot(str(target))
            report.screenshots.append(target)
        except Exception:  # noqa: BLE001
            pass
    phase("widgets")

    # 6. File > Save Notebook (the copy in the temporary root), so leaving the page asks nothing
    try:
        click_menu(driver, "File", "docmanager:save")  # Save Notebook
        _wait("the notebook to be saved", lambda: _state(driver).get("dirty") is False, 30)
    except (TimeoutError, RuntimeError) as err:
        report.problems.append(f"could not save {notebook.name}: {err}")
    _save_console_log(driver, shots_dir / f"{name}.console.log", report)
    phase("save")
    # 7. File > Close Tab: the kernel can then go (the caller shuts it down), and the page opens the next
    try:
        click_menu(driver, "File", "application:close")  # Close Tab
        _wait("the notebook's tab to close", lambda: not _state(driver).get("panel"), 20, 0.3)
    except (TimeoutError, RuntimeError) as err:
        report.problems.append(f"could not close {notebook.name}: {err}")
        driver.get("about:blank")
    phase("close")
    report.total_seconds = time.monotonic() - start
    return report


def _save_failure_shot(driver: Any, path: Path, report: NotebookReport) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(path))
        report.screenshots.append(path)
    except Exception:  # noqa: BLE001
        pass


def _save_console_log(driver: Any, path: Path, report: NotebookReport) -> None:
    """The browser console of this notebook's page; widget errors there become problems."""
    try:
        entries = driver.get_log("browser")
    except Exception:  # noqa: BLE001
        return
    lines = [f"{e.get('level')} {e.get('message')}" for e in entries]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for e in entries:
        msg = str(e.get("message", ""))
        if e.get("level") == "SEVERE" and re.search(r"widget|Could not create|Error creating", msg, re.I):
            report.problems.append(f"browser console: {msg[:500]}")


def image_size(src: str) -> tuple[int, int] | None:
    """Width and height of a ``data:image/png;base64,`` figure (None for anything else)."""
    if not src.startswith("data:image/png;base64,"):
        return None
    from PIL import Image

    try:
        return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).size
    except (ValueError, OSError):
        return None


def notebook_open(driver: Any) -> bool:
    """Does the page show a notebook (or anything but a bare JupyterLab)?"""
    state = _state(driver)
    return bool(state.get("panel") or state.get("error"))

"""The teaching demo as a web page, in a real browser (issue 18).

``marimo run`` serves ``demo/toysae_demo.py`` as an app; headless Chromium (Debian's
package, ``/usr/bin/chromium``, installed by ``.ci/run``) opens it through Playwright.  The
test listens to the notebook's websocket, waits for marimo's ``completed-run`` message
(every cell, the sweep included, has run), and checks that no cell sent an error, that the
sweep's table is on the page and that every figure is there as a decoded image.

Without Chromium or Playwright the test is skipped, unless ``TOYSAE_REQUIRE_BROWSER=1``
(set by ``.ci/run``), where it fails instead: CI must not pass by skipping it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parent.parent / "demo" / "toysae_demo.py"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Figures the notebook shows: the generator, the heatmaps, the trap, c_dec, Theorem 1
#: and the summary figure.
N_FIGURES = 6
#: Flags for Chromium on a machine with no network beyond the registries (without the
#: background-networking ones it keeps trying to reach Google's hosts).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def _browser_or_skip():
    why = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright, why = None, "playwright is not installed (pip install -e '.[dev]')"
    if why is None and not Path(CHROMIUM).is_file():
        why = "Chromium is not installed (Debian: apt-get install chromium)"
    if why is not None:
        if os.environ.get("TOYSAE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"TOYSAE_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"marimo run exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"marimo run did not serve {url} within {timeout:.0f} s")


def test_demo_page_runs_in_chromium_without_errors(tmp_path, demo_runs):
    sync_playwright = _browser_or_skip()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, MPLBACKEND="Agg", TOYSAE_DEMO_RUNS=str(demo_runs))
    log = (tmp_path / "marimo.log").open("w")
    marimo = Path(sys.executable).with_name("marimo")
    proc = subprocess.Popen([str(marimo), "run", str(DEMO), "--headless", "--host",
                             "127.0.0.1", "--port", str(port), "--no-token"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        _wait_for_server(url, proc)
        messages: list[dict] = []

        def on_frame(payload):
            text = payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
            try:
                messages.append(json.loads(text))
            except ValueError:
                pass

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
                page.goto(url, wait_until="domcontentloaded")
                deadline = time.monotonic() + 420
                while not any(m.get("op") == "completed-run" for m in messages):
                    assert time.monotonic() < deadline, "the notebook did not finish running"
                    assert proc.poll() is None, "marimo run exited while the notebook ran"
                    page.wait_for_timeout(500)
                # Rendering follows the messages: wait for every figure to be decoded.
                page.wait_for_function(
                    "n => [...document.querySelectorAll('marimo-mime-renderer')]"
                    ".flatMap(r => [...(r.shadowRoot || r).querySelectorAll('img')])"
                    ".filter(i => i.complete && i.naturalWidth > 0).length >= n",
                    arg=N_FIGURES, timeout=60_000)
                body = page.inner_text("body")
                widths = page.locator("img").evaluate_all("els => els.map(e => e.naturalWidth)")
                tables = page.locator("table").all_inner_texts()
            finally:
                browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    server_log = (tmp_path / "marimo.log").read_text()

    finished = [m for m in messages if m.get("op") == "completed-run"]
    assert finished[0]["data"].get("outcome") == "succeeded", finished[0]
    errors = [m["data"] for m in messages if m.get("op") == "cell-op"
              and ((m["data"].get("output") or {}).get("channel") == "marimo-error")]
    assert not errors, f"cells sent errors: {errors}\n{server_log[-3000:]}"
    assert "Traceback" not in server_log, server_log[-3000:]
    assert "Trained 8 SAEs" in body
    sweep_tables = [t for t in tables if "MCC" in t and "recovered" in t]
    assert sweep_tables and all(f"{k}\t" in sweep_tables[0] for k in ("3", "11", "18"))
    decoded = [w for w in widths if w > 0]
    assert len(decoded) >= N_FIGURES, f"figures decoded: {len(decoded)} of {N_FIGURES}"

"""What the real-browser tests share: Debian's Chromium, a Streamlit server on a free port, waiting.

Chromium is mandatory in CI (env CI set: a missing browser fails the test module); locally a
module that needs it is skipped when /usr/bin/chromium is absent. Servers log to a file, never
to a pipe: nobody reads a pipe while the tests run, and a server whose pipe is full stops
answering.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(os.environ.get("ALIBI_LSH_SCREENSHOTS", ROOT / "screenshots"))


def require_chromium() -> None:
    """Skip the calling test module without Chromium (fail it in CI). Call at module level."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing; the browser tests are mandatory in CI", pytrace=False)
    pytest.skip(f"{CHROMIUM} not installed (these tests run when it is, and always in CI)", allow_module_level=True)


def launch_chromium(driver):
    """Headless Chromium from Debian's package through playwright (never a browser of its own)."""
    return driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


class WatchedBrowser:
    """A browser whose pages and contexts record every request they make (``requests``: URLs), so
    that a test can check that nothing leaves the app's server."""

    def __init__(self, browser) -> None:
        self.browser = browser
        self.requests: list[str] = []

    def new_page(self, **options):
        page = self.browser.new_page(**options)
        page.on("request", lambda request: self.requests.append(request.url))
        return page

    def new_context(self, **options):
        context = self.browser.new_context(**options)
        context.on("request", lambda request: self.requests.append(request.url))
        return context

    def foreign_requests(self, app_url: str) -> list[str]:
        """Requests to any host but the app's (data: and blob: URLs stay in the page)."""
        app_host = urllib.parse.urlsplit(app_url).netloc
        foreign = []
        for url in self.requests:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if parts.netloc != app_host:
                foreign.append(url)
        return foreign


@contextlib.contextmanager
def chromium_browser() -> Iterator:
    """A launched browser for a module's tests, closed at the end."""
    from playwright import sync_api as playwright

    with playwright.sync_playwright() as driver:
        browser = launch_chromium(driver)
        try:
            yield browser
        finally:
            browser.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(script: str, log_dir: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``streamlit run script`` (relative to the repository) on a free localhost port; yields its URL.

    Output goes to ``log_dir``/streamlit.log. No file watcher: a .venv inside the checkout (as CI
    makes it) would keep it busy. ``env`` adds environment variables for the server.
    """
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true"]
    command += ["--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"]
    command += ["--browser.gatherUsageStats", "false"]
    log_path = Path(log_dir) / "streamlit.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail(f"streamlit did not start: {log_path.read_text()[-4000:]}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_idle(page, timeout_s: float = 40) -> None:
    """Wait until Streamlit's 'running' indicator is gone and stays gone for a moment."""
    deadline = time.time() + timeout_s
    quiet_since = None
    while time.time() < deadline:
        running = page.locator("[data-testid='stStatusWidget']").count() > 0
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since > 1.0:
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"the page kept running for more than {timeout_s} s")

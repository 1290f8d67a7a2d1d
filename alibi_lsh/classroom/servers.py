"""Start and stop a classroom: app processes on free localhost ports, and HAProxy in front of them.

Each app process is a plain ``streamlit run app.py`` on its own port, bound to 127.0.0.1 (only the
proxy faces the students). The children run in their own process groups, so a Ctrl-C in the
terminal reaches only the parent, which then stops the proxy first (no new requests) and the app
processes after it (SIGTERM, then SIGKILL after a grace period). Each child's output goes to a log
file; the log folder is removed on a clean stop unless the caller chose it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from websockets.exceptions import WebSocketException

from .protocol import BrowserTab, ProtocolError
from .proxy import Backend, find_haproxy, haproxy_config

APP_PATH = Path(__file__).resolve().parents[2] / "app.py"
# A served app never reloads its source; watching files would only cost CPU.
STREAMLIT_OPTIONS = (
    "--server.headless=true",
    "--browser.gatherUsageStats=false",
    "--server.fileWatcherType=none",
    "--server.runOnSave=false",
    "--runner.postScriptGC=false",  # as .streamlit/config.toml: see alibi_lsh/app/server.py
)
HEALTH_PATH = "/_stcore/health"
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
MAX_PROCESSES = 64


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports that are free now (all bound at once, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _stop_with_parent() -> None:
    """In a child before it starts: have Linux send it SIGTERM when its parent dies, so that no app
    process or proxy outlives a parent that was killed without the chance to stop them."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the parent's stop() is the only way
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def parse_backend(text: str, name: str) -> Backend:
    """A remote app process given as ``HOST:PORT``; ValueError naming the text otherwise."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"backend={text!r} is not HOST:PORT with a port in 1..65535")
    return Backend(name, host.strip("[]"), int(port))


def is_healthy(url: str, timeout: float = 2.0) -> bool:
    """True if ``url``/_stcore/health answers 200 (proxy settings ignored: local servers)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url + HEALTH_PATH, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class Classroom:
    """``processes`` local app processes (plus ``remote`` ones), behind HAProxy if ``proxy``.

    ``url`` is what students open: the proxy's port, or the single process's when there is no
    proxy (``proxy=False`` needs exactly one local process and no remote ones). ``port=0`` picks
    a free port. Use as a context manager, or call ``start()`` and ``stop()``.

    Raises ValueError for impossible layouts, FileNotFoundError if HAProxy is missing, and
    RuntimeError (with the end of its log) if a process exits or stays unhealthy while starting.
    """

    def __init__(
        self,
        processes: int,
        port: int = 0,
        address: str = "127.0.0.1",
        remote: Sequence[str] = (),
        proxy: bool = True,
        app: Path = APP_PATH,
        log_dir: Path | None = None,
        startup_timeout: float = 90.0,
    ) -> None:
        if not 0 <= processes <= MAX_PROCESSES:
            raise ValueError(f"processes={processes} is outside 0..{MAX_PROCESSES}")
        if not 0 <= port <= 65535:
            raise ValueError(f"port={port} is outside 0..65535 (0 picks a free port)")
        if processes + len(remote) == 0:
            raise ValueError("processes=0 needs at least one remote backend (HOST:PORT)")
        if not proxy and (processes != 1 or remote):
            raise ValueError("without the proxy there must be exactly one local process and no remote backends")
        if not Path(app).is_file():
            raise FileNotFoundError(f"app={app} does not exist (run from a checkout of the repository)")
        self.processes, self.address, self.proxy, self.app = processes, address, proxy, Path(app)
        self.port = port or free_ports(1, address)[0]
        self.remote = [parse_backend(text, f"remote{i + 1}") for i, text in enumerate(remote)]
        self.startup_timeout = startup_timeout
        self._remove_logs = log_dir is None  # a temporary folder goes at a clean stop, a chosen one stays
        self.log_dir: Path | None = Path(log_dir) if log_dir else None  # else a temporary folder, made at start
        self.backends: list[Backend] = []
        self._children: dict[str, subprocess.Popen] = {}  # name -> process, in start order

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.address in ("0.0.0.0", "") else self.address
        return f"http://{host}:{self.port}"

    @property
    def pids(self) -> list[int]:
        """Process ids of the local app processes and the proxy."""
        return [child.pid for child in self._children.values()]

    def config(self) -> str:
        """The proxy configuration for the current backends."""
        return haproxy_config(self.address, self.port, self.backends)

    def __enter__(self) -> Classroom:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> Classroom:
        """Start the app processes, wait until each is healthy, then start the proxy."""
        haproxy = find_haproxy() if self.proxy else None
        if self.log_dir is None:
            self.log_dir = Path(tempfile.mkdtemp(prefix="alibi-lsh-classroom-"))
        self.log_dir.mkdir(exist_ok=True)  # only the last folder, as every output folder
        try:
            ports = [self.port] if not self.proxy else free_ports(self.processes)
            local = [Backend(f"app{i + 1}", "127.0.0.1", port) for i, port in enumerate(ports)]
            for backend in local:
                self._spawn(backend.name, self._streamlit_command(backend))
            for backend in local:
                self._wait_healthy(backend.name, f"http://{backend.address}")
                self._first_visit(backend.name, f"http://{backend.address}")
            self.backends = local + self.remote
            if haproxy:
                config_path = self.log_dir / "haproxy.cfg"
                config_path.write_text(self.config())
                self._spawn("haproxy", [haproxy, "-f", str(config_path), "-db"])
                self._wait_healthy("haproxy", self.url)
        except BaseException:
            self.stop(keep_logs=True)
            raise
        return self

    def exited(self) -> str | None:
        """A message naming a child that has exited (with the end of its log), or None."""
        for name, child in self._children.items():
            if child.poll() is not None:
                return f"{name} exited with status {child.returncode}; {self._log_tail(name)}"
        return None

    def stop(self, grace: float = 10.0, keep_logs: bool = False) -> None:
        """Stop the proxy, then the app processes (SIGTERM, SIGKILL after ``grace`` seconds).

        ``keep_logs`` keeps a temporary log folder (after a failure, to read what happened).
        """
        self._remove_logs = self._remove_logs and not keep_logs
        for name in sorted(self._children, key=lambda name: name != "haproxy"):
            if self._children[name].poll() is None:
                self._children[name].send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in self._children.values():
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self._children.clear()
        if self._remove_logs and self.log_dir is not None:
            shutil.rmtree(self.log_dir, ignore_errors=True)
            self.log_dir = None

    def _streamlit_command(self, backend: Backend) -> list[str]:
        address = self.address if not self.proxy else backend.host
        return [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(self.app),
            f"--server.port={backend.port}",
            f"--server.address={address}",
            *STREAMLIT_OPTIONS,
        ]

    def _spawn(self, name: str, command: list[str]) -> None:
        with open(self.log_dir / f"{name}.log", "wb") as log:
            self._children[name] = subprocess.Popen(
                command,
                cwd=self.app.parent,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the parent only; it stops the children in order
                preexec_fn=_stop_with_parent,
            )

    def _wait_healthy(self, name: str, url: str) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._children[name].poll() is not None:
                raise RuntimeError(f"{name} exited while starting; {self._log_tail(name)}")
            if is_healthy(url):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{name} was not healthy at {url} within {self.startup_timeout:g} s; {self._log_tail(name)}")

    def _first_visit(self, name: str, url: str) -> None:
        """Open the default page once before any student does.

        A fresh process's first session imports the app (1-2 s) and settles Streamlit's page
        layout (``st.navigation`` replaces the ``pages/`` folder's automatic one). Sessions that
        start while that first run is still going can be given their page without the app's
        navigation and sidebar (seen when several students open the link at once); a visit
        before the proxy lets anyone in keeps both off the students.
        """

        async def visit() -> None:
            async with BrowserTab(url, timeout=self.startup_timeout) as tab:
                await tab.open()

        try:
            asyncio.run(visit())
        except (ProtocolError, WebSocketException, OSError) as error:
            raise RuntimeError(f"{name} failed its first visit ({error}); {self._log_tail(name)}") from error

    def _log_tail(self, name: str, lines: int = 15) -> str:
        path = self.log_dir / f"{name}.log"
        try:
            tail = path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return f"no log at {path}"
        return f"last lines of {path}:\n" + "\n".join(tail)

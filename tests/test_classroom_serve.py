"""Two app processes behind HAProxy, started as a lecturer would: ``python -m alibi_lsh.classroom.serve``.

Each browser must stay on the process that holds its session: the tests open simulated browser
tabs (``BrowserTab``: the page load, then Streamlit's websocket) through the proxy and check that
two browsers land on different processes, that a session keeps its controls across reruns and
when its websocket reconnects, that a download URL works through the proxy and gives the bytes
the owning process serves (the other process does not have the file), and that SIGTERM stops the
proxy and both processes. HAProxy comes from Debian's packages: mandatory in CI, skipped locally
if it is not installed.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alibi_lsh.classroom.protocol import BrowserTab, http_get
from alibi_lsh.classroom.proxy import COOKIE_NAME, Backend, find_haproxy, haproxy_config
from alibi_lsh.classroom.servers import free_ports, is_healthy, parse_backend

ROOT = Path(__file__).resolve().parent.parent

try:
    HAPROXY = find_haproxy()
except FileNotFoundError as missing:
    if os.environ.get("CI"):
        pytest.fail(f"{missing}; the proxy test is mandatory in CI", pytrace=False)
    pytest.skip(f"{missing} (the test runs when it is, and always in CI)", allow_module_level=True)


def children_of(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The serve command on a free port: (url, its process, {backend name: direct url})."""
    port = free_ports(1)[0]
    logs = tmp_path_factory.mktemp("classroom")
    command = [sys.executable, "-m", "alibi_lsh.classroom.serve", "--processes", "2", "--port", str(port)]
    process = subprocess.Popen([*command, "--log-dir", str(logs)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while not is_healthy(url) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.3)
    if not is_healthy(url):
        process.kill()
        pytest.fail(f"serve did not come up: {process.communicate()[0]}")
    config = (logs / "haproxy.cfg").read_text()
    direct = {name: f"http://{address}" for name, address in re.findall(r"server (\S+) (\S+) cookie", config)}
    yield url, process, direct
    if process.poll() is None:  # the SIGTERM test did not run: stop it the same clean way
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(coroutine):
    return asyncio.run(coroutine)


def test_config_is_accepted_by_haproxy(tmp_path):
    backends = [Backend("app1", "127.0.0.1", 8601), parse_backend("127.0.0.2:8501", "remote1")]
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config("0.0.0.0", 8501, backends))
    check = subprocess.run([HAPROXY, "-c", "-f", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    text = config.read_text()
    assert "server remote1 127.0.0.2:8501 cookie remote1 check" in text
    assert f"cookie {COOKIE_NAME} insert indirect" in text


@pytest.mark.parametrize(
    "backends, port, message",
    [([], 8501, "at least one"), ([Backend("a", "h", 1), Backend("a", "h", 2)], 8501, "distinct"), (None, 0, "port=0")],
)
def test_config_refuses_bad_layouts(backends, port, message):
    with pytest.raises(ValueError, match=message):
        haproxy_config("127.0.0.1", port, backends if backends is not None else [Backend("a", "h", 1)])


@pytest.mark.parametrize("text", ["localhost", "host:", "host:99999", ":8501", "host:port"])
def test_backend_addresses_are_checked(text):
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_backend(text, "remote1")


def test_students_opening_at_once_on_fresh_processes_all_get_the_whole_app(served):
    """The first minute of a lecture: everyone opens the link together on a just-started server."""
    url, _, direct = served

    async def open_tab(i: int):
        await asyncio.sleep(0.1 * i)
        # Shared links name a page (/overview?..., /masks?...), as a lecturer's slide would.
        async with BrowserTab(url, ("overview", "masks")[i % 2], f"n={128 + i}&R=32&seed={i}") as tab:
            rerun = await tab.open()
            return tab.cookies[COOKIE_NAME], rerun

    async def scenario():
        return await asyncio.gather(*(open_tab(i) for i in range(6)))

    opened = run(scenario())
    assert {server for server, _ in opened} == set(direct)
    for i, (_, rerun) in enumerate(opened):
        assert "w_n" in rerun.widgets(), f"student {i} got a page without the sidebar: {sorted(rerun.widgets())}"
        kind, n_slider = rerun.widgets()["w_n"]
        assert (kind, list(n_slider.value)) == ("slider", [128.0 + i])
        assert f"n={128 + i}&" in rerun.query_string and rerun.charts_with_data() >= 1


def test_two_browsers_are_spread_and_downloads_stay_with_their_process(served):
    url, _, direct = served

    async def scenario():
        async with BrowserTab(url, "masks", "n=200&R=32&seed=3") as first:
            await first.open()  # its websocket stays open, so the next browser goes to the other process
            async with BrowserTab(url, "masks", "n=100&R=16&seed=4") as second:
                await second.open()
                rerun = await first.rerun({"w_n": 300})
                download = rerun.download_urls()[0]
                through_proxy = await first.get(download)
                with_other_cookie = await second.get(download)
                return (
                    first.cookies[COOKIE_NAME],
                    second.cookies[COOKIE_NAME],
                    download,
                    through_proxy,
                    with_other_cookie,
                )

    first, second, download, through_proxy, with_other_cookie = run(scenario())
    assert {first, second} == set(direct), "two browsers at once should use both processes"
    assert through_proxy.status == 200
    rows = through_proxy.body.decode().splitlines()
    assert len(rows) >= 2 and "," in rows[0], rows[:2]
    owner = http_get(direct[first] + download, {}, timeout=10)
    assert owner.status == 200 and owner.body == through_proxy.body
    assert with_other_cookie.status == 404, "the other process cannot have this session's file"
    assert http_get(direct[second] + download, {}, timeout=10).status == 404


def test_a_session_keeps_its_controls_across_reruns_and_reconnects(served):
    url, _, direct = served

    def shown(rerun, key):
        kind, element = rerun.widgets()[key]
        return element.value[0] if kind == "slider" else element.value

    async def scenario():
        tab = BrowserTab(url, "overview", "n=200&R=32&seed=3")
        await tab.open()
        after_n = await tab.rerun({"w_n": 300})
        after_r = await tab.rerun({"w_samples": 100})  # a second edit: n must still be 300
        session, cookies = tab.session_id, dict(tab.cookies)
        await tab.close()
        resumed = []
        for _ in range(3):  # reconnects, as after a network hiccup: same cookie, same session id
            async with BrowserTab(url, "overview", "", cookies=cookies) as again:
                rerun = await again.open(existing_session_id=session)
                resumed.append((again.session_id, shown(rerun, "w_n"), shown(rerun, "w_samples")))
        elsewhere = dict(cookies, **{COOKIE_NAME: next(name for name in direct if name != cookies[COOKIE_NAME])})
        async with BrowserTab(url, "overview", "n=200&R=32&seed=3", cookies=elsewhere) as other:
            rerun = await other.open(existing_session_id=session)
            moved = (other.session_id, shown(rerun, "w_n"))
        return session, after_n, after_r, resumed, moved

    session, after_n, after_r, resumed, moved = run(scenario())
    assert (shown(after_n, "w_n"), shown(after_r, "w_n"), shown(after_r, "w_samples")) == (300, 300, 100)
    assert "n=300" in after_r.query_string or "n=300" in (after_n.query_string or "")
    assert resumed == [(session, 300, 100)] * 3
    # On the other process the old session does not exist: a new one starts from its URL.
    assert moved[0] != session and moved[1] == 200


def test_sigterm_stops_the_proxy_and_every_process(served):
    url, process, direct = served
    children = children_of(process.pid)
    assert len(children) == 3, children  # two app processes and HAProxy
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "Stopped." in output
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]
    assert not is_healthy(url) and not any(is_healthy(address) for address in direct.values())


def test_a_killed_serve_leaves_no_process_behind():
    """SIGKILL gives serve no chance to stop its children: Linux stops them (parent-death signal)."""
    port = free_ports(1)[0]
    command = [sys.executable, "-m", "alibi_lsh.classroom.serve", "--processes", "1", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while not is_healthy(url) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.3)
    children = children_of(process.pid)
    process.kill()
    process.wait()
    assert len(children) == 2, children  # the app process and HAProxy
    deadline = time.monotonic() + 20
    while [pid for pid in children if Path(f"/proc/{pid}").exists()] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]

"""One browser tab of a Streamlit app, spoken at the protocol level (no browser, no JavaScript).

A tab loads the page over HTTP (where a reverse proxy sets its stickiness cookie), then opens one
websocket at ``/_stcore/stream`` and keeps it while the tab is open. Over it the tab sends
``BackMsg`` protobufs, chiefly ``rerun_script``: the URL's query string, the page (its URL path on
the first run, its script hash afterwards) and the values of the widgets the user changed. The
server answers with ``ForwardMsg`` protobufs: ``new_session`` (carrying the session id that a tab
sends back when it reconnects), ``page_info_changed`` when the script rewrites the URL, one
``delta`` per element drawn, and ``script_finished`` at the end of the run.

Like Streamlit's own frontend, a tab reports the hashes of the large elements it still holds and
the server sends a reference (``ref_hash``) instead of a repeat, so a simulated tab costs the
server what a real one does. The protocol was read from the installed ``streamlit`` 1.67 package:
``proto/BackMsg.proto``, ``proto/ForwardMsg.proto``, ``proto/ClientState.proto``, the websocket
handshake in ``web/server/starlette/starlette_websocket.py`` and ``runtime/app_session.py``.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

STREAM_PATH = "/_stcore/stream"
# The frontend's placeholder when it has no XSRF cookie; the token only guards auth cookies.
NO_XSRF_TOKEN = "PLACEHOLDER_AUTH_TOKEN"
# A Convergence rerun sends about 7 MB; websockets' default limit (1 MiB) would cut it off.
MAX_MESSAGE_BYTES = 256 * 2**20
# Statuses that end a run; FINISHED_EARLY_FOR_RERUN is followed by another run of the same chain.
FINAL_STATUSES = {
    ForwardMsg.FINISHED_SUCCESSFULLY,
    ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
    ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
}
SUCCESS_STATUSES = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}
CHART_TYPES = ("plotly_chart", "vega_lite_chart")


class ProtocolError(RuntimeError):
    """The server said something a browser tab could not have handled."""


class WidgetNotDrawn(ProtocolError):
    """A change was asked of a widget that the page has not drawn."""


@dataclass
class Rerun:
    """What one script run sent to the tab, in arrival order."""

    seconds: float  # from sending the request to ``script_finished``
    status: int  # ForwardMsg.ScriptFinishedStatus
    elements: list[tuple[str, Any]]  # (element type, element protobuf), e.g. ("slider", Slider)
    query_string: str | None  # the URL as the script rewrote it, None if it left the URL alone
    received_bytes: int

    def widgets(self) -> dict[str, tuple[str, Any]]:
        """Widgets drawn in this run by their user key: key -> (element type, protobuf)."""
        return {key: (kind, element) for kind, element in self.elements if (key := widget_key(element))}

    def charts_with_data(self) -> int:
        """How many plotly or Vega-Lite charts carry data points."""
        return sum(chart_has_data(kind, element) for kind, element in self.elements if kind in CHART_TYPES)

    def exceptions(self) -> list[str]:
        """Messages of the exception boxes drawn (an uncaught error in the script)."""
        return [f"{e.type}: {e.message}" for kind, e in self.elements if kind == "exception"]

    def error_alerts(self) -> list[str]:
        """Bodies of ``st.error`` boxes (the app shows library errors this way)."""
        return [e.body for kind, e in self.elements if kind == "alert" and e.format == e.ERROR]

    def warnings(self) -> list[str]:
        """Bodies of ``st.warning`` boxes."""
        return [e.body for kind, e in self.elements if kind == "alert" and e.format == e.WARNING]

    def texts(self) -> list[str]:
        """Bodies of headings, markdown and captions."""
        return [e.body for kind, e in self.elements if kind in ("heading", "markdown")]

    def download_urls(self) -> list[str]:
        """URLs of the download buttons whose file the server already holds (``/media/...``)."""
        return [e.url for kind, e in self.elements if kind == "download_button" and e.url]


def widget_key(element: Any) -> str | None:
    """The user key of a widget (ids read ``$$ID-<hash>-<key>``), None for other elements."""
    widget_id = getattr(element, "id", "")
    if not widget_id.startswith("$$ID-"):
        return None
    parts = widget_id.split("-", 2)
    return parts[2] if len(parts) == 3 and parts[2] != "None" else None


def chart_has_data(kind: str, element: Any) -> bool:
    """True if a chart element carries data (plotly traces, or Vega-Lite datasets or inline values)."""
    if kind == "plotly_chart":
        return '"data":[{' in element.spec  # plotly's compact JSON; an empty figure has "data":[]
    if kind == "vega_lite_chart":
        has_dataset = any(len(dataset.data.data) for dataset in element.datasets)
        return has_dataset or len(element.data.data) > 0 or '"values":' in element.spec
    raise ValueError(f"kind={kind!r} is not one of {', '.join(CHART_TYPES)}")


def widget_state(kind: str, widget_id: str, value: object) -> WidgetState:
    """The value of one widget as the frontend sends it (the widget's ``value_type`` in Streamlit)."""
    state = WidgetState(id=widget_id)
    if kind == "slider" and isinstance(value, str):  # a select slider sends its option as shown
        state.string_array_value.data.append(value)
    elif kind == "slider":  # single-value sliders send a one-element array
        state.double_array_value.data.append(float(value))
    elif kind == "number_input":
        state.double_value = float(value)
    elif kind == "checkbox":  # st.checkbox and st.toggle
        state.bool_value = bool(value)
    elif kind in ("selectbox", "radio"):  # the option as displayed (after format_func)
        state.string_value = str(value)
    elif kind == "button":  # a click: True for the one run that follows it
        state.trigger_value = bool(value)
    else:
        raise ValueError(
            f"widget type {kind!r} is not supported (slider, number_input, checkbox, selectbox, radio, button)"
        )
    return state


@dataclass
class HttpResponse:
    status: int
    body: bytes
    set_cookies: list[str] = field(default_factory=list)


def http_get(url: str, cookies: Mapping[str, str], timeout: float) -> HttpResponse:
    """A GET that returns error statuses instead of raising, and ignores proxy settings (local servers)."""
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
            return HttpResponse(response.status, response.read(), response.headers.get_all("Set-Cookie") or [])
    except urllib.error.HTTPError as error:
        return HttpResponse(error.code, error.read(), error.headers.get_all("Set-Cookie") or [])


class BrowserTab:
    """One tab: an HTTP page load, then one websocket session.

    ``path`` is the page's URL path (``""`` for the default page, ``"masks"``), ``query_string``
    the URL's query (the app reads its controls from it on a session's first run). ``cookies``
    start the tab with a browser's cookie jar (e.g. the proxy's server cookie). Each run waits
    at most ``timeout`` seconds (TimeoutError). Use ``async with`` or call ``close()``.
    """

    def __init__(
        self,
        base_url: str,
        path: str = "",
        query_string: str = "",
        cookies: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.path = path
        self.query_string = query_string
        self.cookies: dict[str, str] = dict(cookies or {})
        self.timeout = timeout
        self.session_id: str | None = None
        self._websocket: ClientConnection | None = None
        self._page_script_hash = ""
        self._widgets: dict[str, tuple[str, Any]] = {}
        # Large elements the tab holds, by hash, with the index of the run that last sent them.
        self._cache: dict[str, tuple[ForwardMsg, int]] = {}
        self._cache_runs = 2  # the server's max_cached_message_age, updated from new_session
        self._runs = 0

    async def __aenter__(self) -> BrowserTab:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def open(self, existing_session_id: str | None = None) -> Rerun:
        """Load the page, connect (resuming ``existing_session_id`` if given) and run the script once."""
        start = time.perf_counter()
        page = await self.get(f"/{self.path}" + (f"?{self.query_string}" if self.query_string else ""))
        if page.status != 200:
            raise ProtocolError(f"GET /{self.path} answered HTTP {page.status}")
        host = urlsplit(self.base_url).netloc
        tokens = ["streamlit", self.cookies.get("_streamlit_xsrf", NO_XSRF_TOKEN)]
        if existing_session_id:
            tokens.append(existing_session_id)
        cookie_header = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        self._websocket = await connect(
            f"ws://{host}{STREAM_PATH}",
            subprotocols=[Subprotocol(token) for token in tokens],
            origin=f"http://{host}",
            additional_headers=cookie_header,
            max_size=MAX_MESSAGE_BYTES,
            proxy=None,
            open_timeout=self.timeout,
        )
        rerun = await self._run(ClientState(query_string=self.query_string, page_name=self.path), start)
        return rerun

    async def rerun(self, changes: Mapping[str, object] | None = None) -> Rerun:
        """Rerun the script as after a user edit: ``changes`` maps widget keys to their new values."""
        states = ClientState(query_string=self.query_string, page_script_hash=self._page_script_hash)
        for key, value in (changes or {}).items():
            if key not in self._widgets:
                raise WidgetNotDrawn(f"no widget {key!r} on this page; drawn: {', '.join(sorted(self._widgets))}")
            kind, element = self._widgets[key]
            states.widget_states.widgets.append(widget_state(kind, element.id, value))
        return await self._run(states, time.perf_counter())

    async def get(self, path: str) -> HttpResponse:
        """GET a path of the server with this tab's cookies (as the browser would), keeping new cookies."""
        response = await asyncio.to_thread(http_get, self.base_url + path, self.cookies, self.timeout)
        for header in response.set_cookies:
            jar = SimpleCookie()
            jar.load(header)
            self.cookies.update({name: morsel.value for name, morsel in jar.items()})
        return response

    async def close(self) -> None:
        if self._websocket is not None:
            await self._websocket.close()
            self._websocket = None

    async def _run(self, client_state: ClientState, start: float) -> Rerun:
        if self._websocket is None:
            raise ProtocolError("the tab is not open")
        client_state.cached_message_hashes.extend(self._cache)
        await self._websocket.send(BackMsg(rerun_script=client_state).SerializeToString())
        try:
            return await asyncio.wait_for(self._receive_run(start), self.timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no script_finished within {self.timeout:g} s") from None

    async def _receive_run(self, start: float) -> Rerun:
        assert self._websocket is not None
        self._runs += 1
        elements: list[tuple[str, Any]] = []
        query_string = None
        received = 0
        while True:
            data = await self._websocket.recv(decode=False)
            received += len(data)
            msg = ForwardMsg.FromString(data)
            kind = msg.WhichOneof("type")
            if kind == "ref_hash":
                if msg.ref_hash not in self._cache:
                    raise ProtocolError(f"the server referred to element {msg.ref_hash}, which this tab never held")
                msg = self._cache[msg.ref_hash][0]
                kind = msg.WhichOneof("type")
            if msg.metadata.cacheable:
                self._cache[msg.hash] = (msg, self._runs)
            if kind == "new_session":
                if msg.new_session.HasField("initialize"):
                    self.session_id = msg.new_session.initialize.session_id
                if msg.new_session.config.max_cached_message_age > 0:
                    self._cache_runs = msg.new_session.config.max_cached_message_age
            elif kind == "navigation":  # st.navigation resolved the page: later reruns name it by hash
                self._page_script_hash = msg.navigation.page_script_hash
            elif kind == "page_info_changed":
                query_string = self.query_string = msg.page_info_changed.query_string
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element_kind = msg.delta.new_element.WhichOneof("type")
                elements.append((element_kind, getattr(msg.delta.new_element, element_kind)))
            elif kind == "script_finished" and msg.script_finished in FINAL_STATUSES:
                rerun = Rerun(time.perf_counter() - start, msg.script_finished, elements, query_string, received)
                self._widgets.update(rerun.widgets())
                self._forget_old_elements()
                return rerun

    def _forget_old_elements(self) -> None:
        """Drop elements not sent for ``max_cached_message_age`` runs, as the frontend does."""
        self._cache = {h: (m, run) for h, (m, run) in self._cache.items() if self._runs - run < self._cache_runs}

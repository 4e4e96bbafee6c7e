"""The simulator's HTTP server and its Python API (:class:`Simulator`).

A ``ThreadingHTTPServer`` (one thread per connection, HTTP/1.1 keep-alive) in a background
thread. With TLS the handshake happens in the connection's thread, so a slow or refused client
(no certificate on an mTLS profile) never holds up the others.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from ems_provsim import control
from ems_provsim.errors import ProvsimError, Refusal
from ems_provsim.profile import Profile, load_profile
from ems_provsim.protocol import Platform, Reply, json_reply
from ems_provsim.state import Account, PlatformState

_MAX_BODY = 64 * 1024 * 1024


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for HTTPS; with ``client_ca`` every client must present a certificate it signed."""

    cert: str | Path
    key: str | Path
    client_ca: str | Path | None = None

    def context(self) -> ssl.SSLContext:
        """The server-side TLS context (TLS 1.2 at least)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.cert), str(self.key))
        if self.client_ca is not None:
            context.load_verify_locations(str(self.client_ca))
            context.verify_mode = ssl.CERT_REQUIRED
        return context


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Idle keep-alive connections must not make stop() wait for them: they are shut down instead.
    block_on_close = False
    # A burst of clients (the benchmark) must queue, not be reset by a 5-deep backlog.
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], simulator: Simulator, context: ssl.SSLContext | None
    ) -> None:
        self.simulator = simulator
        self.ssl_context = context
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        connection: socket.socket = request
        if self.ssl_context is not None:
            connection.settimeout(_Handler.timeout)
            try:
                connection = self.ssl_context.wrap_socket(connection, server_side=True)
            except (ssl.SSLError, OSError):
                return  # the TLS layer refused the client (e.g. no client certificate)
        with self.connections_lock:
            self.connections.add(connection)
        try:
            super().finish_request(connection, client_address)
        finally:
            with self.connections_lock:
                self.connections.discard(connection)
            if connection is not request:
                connection.close()  # the TLS socket; shutdown_request closes the plain one

    def drop_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already gone
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # An idle keep-alive connection is closed after this long.
    timeout = 120
    # Headers and body are written separately: without TCP_NODELAY the second write waits
    # for the client's delayed ACK (~40 ms per request on a kept-alive connection).
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: every request is in :meth:`Simulator.requests` instead."""

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 <= length <= _MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length)

    def _dispatch(self, method: str) -> None:
        simulator = self.server.simulator
        try:
            body = self._body()
        except ValueError:
            self.close_connection = True
            self._send(json_reply(400, {"responseCode": "400", "responseMessage": "请求长度错误"}))
            return
        url = urlsplit(self.path)
        if url.path.startswith("/_sim/"):
            self._send(control.handle(simulator, method, url.path, body))
            return
        reply = simulator.answer(
            method, url.path, dict(self.headers.items()), body, self._base_url()
        )
        if reply is None:
            self.close_connection = True
            return
        self._send(reply)

    def _base_url(self) -> str:
        simulator = self.server.simulator
        if simulator.public_url:
            return simulator.public_url
        host = self.headers.get("Host")
        return f"{simulator.scheme}://{host}" if host else simulator.base_url

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)


class Simulator:
    """One province's monitoring platform, simulated: start it, point a client at it, observe.

    ``profile`` is a profile name under ``platform/ems/upload/profiles`` or a path to a TOML.
    ``open_registration`` (default: True unless the profile uses bearer auth) lets any
    well-formed enterprise register without :meth:`provision`. ``check_uscc_digit`` also checks
    the credit code's check character. ``record_path`` appends every accepted row to a JSON-lines
    file. ``public_url`` fixes the base of the service URLs handed out at registration (default:
    the Host the client used).
    """

    def __init__(
        self,
        profile: str | Path = "national",
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TlsFiles | None = None,
        *,
        open_registration: bool | None = None,
        check_uscc_digit: bool = True,
        access_key_ttl: int = 7200,
        record_path: str | Path | None = None,
        public_url: str | None = None,
    ) -> None:
        self.profile: Profile = load_profile(profile)
        if self.profile.auth == "mtls" and (tls is None or tls.client_ca is None):
            raise ProvsimError(
                f"profile {self.profile.code} needs mutual TLS: pass tls with a client_ca"
            )
        self.host, self._port, self.tls = host, port, tls
        self.public_url = public_url.rstrip("/") if public_url else None
        self.state = PlatformState(
            access_key_ttl=access_key_ttl, record_path=Path(record_path) if record_path else None
        )
        if open_registration is None:
            open_registration = self.profile.auth != "bearer"
        self.platform = Platform(
            self.profile,
            self.state,
            open_registration=open_registration,
            check_uscc_digit=check_uscc_digit,
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Simulator:
        """Listen and serve in a background thread; returns once the socket is listening."""
        if self._server is not None:
            raise ProvsimError("simulator already started")
        context = self.tls.context() if self.tls else None
        self._server = _Server((self.host, self._port), self, context)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            # A short poll keeps stop() quick; an idle poll costs next to nothing.
            kwargs={"poll_interval": 0.05},
            name=f"ems-provsim-{self.profile.code}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and close the record file."""
        if self._server is not None:
            self._server.shutdown()
            self._server.drop_connections()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join()
            self._server = self._thread = None
        self.state.close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def scheme(self) -> str:
        """ "https" with TLS, else "http"."""
        return "https" if self.tls else "http"

    @property
    def port(self) -> int:
        """The port listened on (the real one when constructed with port 0)."""
        if self._server is None:
            return self._port
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://host:port`` (https with TLS)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def register_url(self) -> str:
        """Where clients register: the profile's ``register_path`` on this server."""
        return self.base_url + self.profile.register_path

    @property
    def paths(self) -> dict[str, str]:
        """The path of every endpoint, by name (register, version, data, ..., access_key)."""
        return dict(self.platform.paths)

    def answer(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, base_url: str
    ) -> Reply | None:
        """The reply to one protocol request (what the HTTP handler calls)."""
        endpoint = self.platform.route(path)
        if endpoint is None or method != "POST":
            status, message = (
                (404, f"接口不存在：{path}") if endpoint is None else (405, "仅支持 POST")
            )
            self.state.log(endpoint or "unknown", None, "refused", message, 0)
            return self.platform.refusal_reply(Refusal(message, status=status))
        return self.platform.handle(endpoint, headers, body, base_url)

    # --- controlling the platform ------------------------------------------------------------

    def provision(self, enterprise_code: str, region: str, pin: str = "123456") -> None:
        """Open an account, as a province does before registration; the PIN is for bearer."""
        self.state.provision(enterprise_code, region, pin)

    def set_fault(self, mode: str, count: int | None = None, delay: float = 1.0) -> None:
        """Fault the next ``count`` requests to any endpoint but register (None: until "none").

        "5xx": HTTP 503, non-JSON body. "timeout": stall ``delay`` seconds, then drop the
        connection unanswered (nothing processed). "decrypt": refuse "解密失败！". "device":
        refuse "序列号与企业统一社会信用代码不符".
        """
        self.state.set_fault(mode, count, delay)

    def expire_access_keys(self) -> None:
        """Every access key issued so far is expired (bearer profiles)."""
        self.state.expire_access_keys()

    def bump_dictionaries(self, changes: Mapping[Any, Any] | None = None) -> int:
        """dicVersion += 1; ``{item: [entries]}`` adds or replaces, ``{"remove": {item: [codes]}}``
        removes."""
        return self.state.bump_dictionaries({str(k): v for k, v in (changes or {}).items()})

    def rekey(self, enterprise_code: str) -> str:
        """A new secretKey (returned) for a registered enterprise; the old one is then wrong."""
        return self.state.rekey(enterprise_code)

    def reset(self) -> None:
        """Forget observations and the fault; accounts, keys and dictionaries stay."""
        self.state.reset()

    # --- observing ---------------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        """Accepted data rows in acceptance order (``dataValue`` Decimal, ``received_at`` UTC)."""
        return self.state.records()

    def infos(self) -> list[dict[str, Any]]:
        """Accepted enterprise-information uploads."""
        return self.state.infos()

    def meter_ledgers(self) -> list[dict[str, Any]]:
        """Accepted meter-ledger uploads."""
        return self.state.meter_ledgers()

    def requests(self) -> list[dict[str, Any]]:
        """Every protocol request with its outcome ("accepted", "refused", "5xx", "timeout")."""
        return self.state.requests()

    def dictionaries(self) -> dict[int, list[dict[str, Any]]]:
        """The dictionaries currently served, by item."""
        dicts = self.state.dicts
        return {item: [dict(e) for e in entries] for item, entries in dicts.items.items()}

    @property
    def dic_version(self) -> int:
        """The dictionary version currently served."""
        return self.state.dicts.version

    def account(self, enterprise_code: str) -> Account | None:
        """An enterprise's account (``device_id``, ``secret_key`` once registered), or None."""
        return self.state.account(enterprise_code)

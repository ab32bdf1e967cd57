"""`retrain-gate serve`: the dashboard in a web browser, through textual-serve.

Each browser session is its own `retrain-gate tui` process on the same config and state
folder, so it behaves as any second dashboard: it follows the writer (or becomes it), and a
decision made in it is recorded in the same ledger under the typed name, with the serving
process's OS user as `os_user`.

textual-serve has no access control of its own, and a session can record decisions, so
`GuardedServer` puts three checks in front of every request (docs/serve.md says what each one
protects): the Host must be a name this server is served under, a websocket's Origin must be
the served origin, and the request must carry the secret made at this start (from the link
`serve` prints, then from a cookie). textual-serve is wrapped, not forked: the checks are an
aiohttp middleware added to the application it builds.
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import ipaddress
import logging
import secrets
import shlex
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware
from textual_serve.server import Server

from retrain_gate.errors import RetrainGateError
from retrain_gate.text import printable

NO_PROXY_WARNING = (
    "retrain-gate serve: WARNING: {host} is reachable from other machines over plain HTTP: "
    "the link's secret crosses the network unencrypted, and anyone who sees it can approve a "
    "retrain in your name. Put serve on 127.0.0.1 behind a reverse proxy with TLS and "
    "authentication (docs/serve.md)."
)
TOKEN = "token"  # the query parameter, as Jupyter names it
# Enough refusal lines to notice an attack; a page retrying in a loop must not flood the log.
MAX_REFUSALS_SHOWN = 20

log = logging.getLogger("retrain_gate.serve")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def tui_command(config: Path) -> str:
    """The command textual-serve starts for each browser session."""
    return shlex.join(
        [sys.executable, "-m", "retrain_gate", "tui", "--via-browser", "--config", str(config)]
    )


def origin_of(url: str) -> str | None:
    """`scheme://host:port` with the default port written out, as two origins compare equal
    in a browser; None for anything that is not an http(s) origin (such as `null`)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port or (443 if scheme == 'https' else 80)}"


def hostname_of(host_header: str) -> str | None:
    """The name in a Host header, without its port; None if it is not one."""
    try:
        parts = urlsplit(f"//{host_header.strip()}")
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return None
    if parts.username is not None or parts.password is not None or parts.path:
        return None
    return parts.hostname.lower() if parts.hostname else None


def bound_url(host: str, port: int) -> str:
    """The URL of the bound address (textual-serve's own guess writes IPv6 without brackets)."""
    name = f"[{host}]" if ":" in host else host
    return f"http://{name}:{port}"


@dataclass(frozen=True)
class Guard:
    """What a request must show to reach textual-serve. `urls` are the served addresses: the
    bound one and, behind a proxy, `--public-url`."""

    secret: str
    urls: tuple[str, ...]
    cookie: str

    @property
    def origins(self) -> frozenset[str]:
        return frozenset(o for o in map(origin_of, self.urls) if o)

    @property
    def hostnames(self) -> frozenset[str]:
        # The name, not the port: DNS rebinding changes the name, and a proxy may send its
        # own name without the port the browser used (nginx's `$host`).
        return frozenset(h for h in (urlsplit(u).hostname for u in self.urls) if h)

    def holds(self, presented: str | None) -> bool:
        if not presented:
            return False
        return hmac.compare_digest(presented.encode("utf-8"), self.secret.encode("utf-8"))

    def refusal(
        self,
        *,
        host: str | None,
        origin: str | None,
        websocket: bool,
        token: str | None,
        cookie: str | None,
    ) -> str | None:
        """Why the request is refused (one short line for the browser and the log), or None.
        Nothing in it is the secret."""
        if host is None or hostname_of(host) not in self.hostnames:
            served = ", ".join(sorted(self.hostnames))
            named = (
                "a request without a Host header"
                if host is None
                else f"Host {printable(host, limit=80)} is not a name this server is served under"
            )
            return f"{named} ({served}); open the link `retrain-gate serve` printed"
        # A browser always sends Origin with a websocket, and with a cross-origin request.
        if (origin is not None or websocket) and (
            origin is None or origin_of(origin) not in self.origins
        ):
            what, act = ("a websocket", "open") if websocket else ("a request", "send")
            source = (
                "without an Origin" if origin is None else f"from {printable(origin, limit=80)}"
            )
            return f"{what} {source}: only the page this server serves may {act} one"
        if self.holds(token) or self.holds(cookie):
            return None
        if token or cookie:
            return (
                "the secret is wrong, or from an earlier start of `retrain-gate serve`; "
                "open the link it printed this time"
            )
        return "no secret: open the link `retrain-gate serve` printed (it ends in ?token=...)"


def guard_middleware(guard: Guard, *, secure_cookie: bool) -> Middleware:
    refused = 0

    @web.middleware
    async def check(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        nonlocal refused
        token = request.query.get(TOKEN)
        why = guard.refusal(
            host=request.headers.get(hdrs.HOST),
            origin=request.headers.get(hdrs.ORIGIN),
            websocket=hdrs.UPGRADE in request.headers or request.path == "/ws",
            token=token,
            cookie=request.cookies.get(guard.cookie),
        )
        if why is not None:
            refused += 1
            if refused <= MAX_REFUSALS_SHOWN:
                # The path only: the query may hold a secret (a wrong one, or an old one).
                log.warning(
                    "refused %s %s from %s: %s",
                    request.method,
                    printable(request.path, limit=80),
                    request.remote,
                    why,
                )
                if refused == MAX_REFUSALS_SHOWN:
                    log.warning("further refused requests are not shown")
            return web.Response(
                status=403,
                text=f"403 refused: {why}\n",
                headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
            )
        if token is not None and request.path == "/":
            # The page's address keeps no secret (history, screen shares, the Referer): the
            # cookie carries it from now on. Relative, so a proxy's path prefix is kept.
            rest = request.rel_url.query.copy()
            rest.popall(TOKEN)
            location = "./" + (f"?{request.rel_url.with_query(rest).query_string}" if rest else "")
            redirect = web.HTTPSeeOther(location=location)
            if guard.holds(token):
                redirect.set_cookie(
                    guard.cookie,
                    guard.secret,
                    path="/",
                    httponly=True,
                    samesite="Strict",
                    secure=secure_cookie,
                )
            raise redirect
        response = await handler(request)
        if not response.prepared:  # a websocket's headers went out with its handshake
            response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    return check


def listening_socket(host: str, port: int) -> socket.socket:
    """The bound, listening socket, made before anything is printed: a busy port is one
    error line, not a `Serving` banner followed by a failure."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except OSError as exc:
        raise RetrainGateError(
            f"cannot serve on {host}:{port}: {exc.strerror or exc}; give --host an address "
            "this machine has (127.0.0.1 by default)"
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        # As aiohttp would: a restart does not wait for the last run's closed connections.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            what = (
                f"port {port} is already in use (another retrain-gate serve?); "
                "choose another with --port, or stop what listens there"
            )
        elif exc.errno == errno.EADDRNOTAVAIL:
            what = f"this machine has no address {host}; choose a --host it has"
        elif exc.errno == errno.EACCES:
            what = f"port {port} needs privileges this user lacks; choose one above 1023"
        else:
            what = f"{exc.strerror or exc}; choose another --port, or a --host this machine has"
        raise RetrainGateError(f"cannot serve on {host}:{port}: {what}") from None
    return sock


class GuardedServer(Server):
    """textual-serve's server behind `Guard`, on a socket bound before anything is printed."""

    def __init__(self, command: str, *, guard: Guard, public_url: str, sock: socket.socket):
        super().__init__(command, title="retrain-gate", public_url=public_url)
        self.guard = guard
        self.sock = sock

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        # Outermost, so nothing of textual-serve's runs for a refused request.
        secure = self.public_url.startswith("https:")
        app.middlewares.insert(0, guard_middleware(self.guard, secure_cookie=secure))
        return app

    def initialize_logging(self) -> None:
        # Plain lines on stderr; nothing logs a request's query (it may hold the secret).
        logging.basicConfig(
            level=logging.INFO,
            format="retrain-gate serve: %(message)s",
            stream=sys.stderr,
            force=True,
        )

    async def on_startup(self, app: web.Application) -> None:
        pass  # the one line with the link is printed by run_serve

    def serve(self, debug: bool = False) -> None:
        # textual-serve's own serve() binds only after its startup banner, and logs every
        # request line with its query; this one serves on the socket already bound.
        self.debug = debug
        self.initialize_logging()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.add_signal_handler(signal.SIGINT, self.request_exit)
        loop.add_signal_handler(signal.SIGTERM, self.request_exit)
        web.run_app(
            self._make_app(),
            sock=self.sock,
            handle_signals=False,
            loop=loop,
            print=None,
            access_log=None,
        )


def served_urls(host: str, port: int, public_url: str | None) -> tuple[str, str]:
    """(the URL browsers use, the bound URL)."""
    bound = bound_url(host, port)
    if public_url is None:
        return bound, bound
    public = public_url.strip().rstrip("/")
    if origin_of(public) is None:
        raise RetrainGateError(
            f"--public-url {printable(public_url, limit=120)} is not an http:// or https:// "
            "address; give the address browsers use, such as https://gate.example.internal"
        )
    return public, bound


def run_serve(config: Path, *, host: str, port: int, public_url: str | None = None) -> int:
    public, bound = served_urls(host, port, public_url)
    if not is_loopback(host):
        print(NO_PROXY_WARNING.format(host=host), file=sys.stderr, flush=True)
    sock = listening_socket(host, port)
    guard = Guard(
        secret=secrets.token_urlsafe(32),
        urls=(public, bound),
        # Cookies are shared by every port of a host: one name per port keeps two `serve`s
        # on one machine from overwriting each other's.
        cookie=f"retrain-gate-serve-{port}",
    )
    # Absolute: textual-serve may start the sessions from another working directory.
    command = tui_command(config.resolve())
    server = GuardedServer(command, guard=guard, public_url=public, sock=sock)
    # The one place the secret is shown.
    print(f"retrain-gate serve: open {public}/?{TOKEN}={guard.secret} (Ctrl+C stops)", flush=True)
    server.serve()
    return 0

"""`retrain-gate serve`: the dashboard in a web browser, through textual-serve.

Each browser session is its own `retrain-gate tui` process on the same config and state
folder, so it behaves as any second dashboard: it follows the writer (or becomes it), and a
decision made in it is recorded in the same ledger under the typed name, with the serving
process's OS user as `os_user`. textual-serve has no authentication: anyone who can reach the
port can approve. Loopback unless told otherwise; see docs/serve.md for a reverse proxy.
"""

from __future__ import annotations

import ipaddress
import shlex
import sys
from pathlib import Path

from retrain_gate.errors import RetrainGateError

NO_AUTH_WARNING = (
    "retrain-gate serve: WARNING: {host} is reachable from other machines and textual-serve "
    "has no authentication of its own: anyone who reaches port {port} can approve a retrain "
    "in your name. Put it behind a reverse proxy with authentication (docs/serve.md)."
)


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


def run_serve(config: Path, *, host: str, port: int, public_url: str | None = None) -> int:
    from textual_serve.server import Server

    if not is_loopback(host):
        print(NO_AUTH_WARNING.format(host=host, port=port), file=sys.stderr, flush=True)
    # Absolute: textual-serve may start the sessions from another working directory.
    command = tui_command(config.resolve())
    server = Server(command, host=host, port=port, title="retrain-gate", public_url=public_url)
    try:
        server.serve()
    except OSError as exc:
        raise RetrainGateError(
            f"cannot serve on {host}:{port} ({exc.strerror or exc}); "
            "choose another --port, or a --host this machine has"
        ) from None
    return 0

"""Sending one message to one URL through Apprise. URLs may name environment variables
(`${SLACK_URL}`), expanded at send time; a URL is never shown: messages say `#2 (slack)` or
the `${NAME}` it was written as."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from urllib.parse import parse_qs, urlsplit

from retrain_gate.config import Config
from retrain_gate.errors import RetrainGateError
from retrain_gate.live.notify.texts import project_name
from retrain_gate.text import printable

# How long a receiver may take to answer. Apprise's own read timeout (4 s) gives up on a
# receiver that accepts the message a little later, which then gets a copy at every retry.
SEND_TIMEOUT_SECONDS = 10.0

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class NotifyError(RetrainGateError):
    """A URL that cannot be used as configured (a missing variable, an unknown scheme)."""


# ------------------------------------------------------------------ URLs, never shown in full


def url_id(template: str) -> str:
    return hashlib.sha256(template.encode("utf-8")).hexdigest()[:12]


def describe_url(template: str, number: int) -> str:
    """How a URL is named in messages and logs: its number and scheme, or its `${NAME}`."""
    names = _ENV.findall(template)
    if names and template.startswith("${"):
        return f"#{number} " + "".join(f"${{{name}}}" for name in names)
    scheme = template.split("://", 1)[0] if "://" in template else "?"
    return f"#{number} ({printable(scheme, limit=20)})"


def expand(template: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        found = os.environ.get(name)
        if not found:
            raise NotifyError(f"the environment variable {name} is not set")
        return found

    return _ENV.sub(value, template)


def _scrub(text: str, url: str) -> str:
    """`text` without any piece of `url` long enough to be a token (services' errors can
    quote the host or the path)."""
    rest = url.split("://", 1)[-1]
    pieces = sorted(
        (p for p in re.split(r"[/:@?&=#,]+", rest) if len(p) >= 4), key=len, reverse=True
    )
    for piece in pieces:
        text = text.replace(piece, "…")
    return text


def send(template: str, title: str, body: str) -> tuple[bool, str, bool]:
    """Send one message to one URL: (delivered, why not, worth retrying)."""
    import apprise  # a second or so of imports: only a process that sends pays for it

    try:
        url = expand(template)
    except NotifyError as exc:
        return False, str(exc), False
    sender = apprise.Apprise()
    if not sender.add(url):
        return False, "not a URL Apprise knows (check the scheme and its parts)", False
    if "rto" not in parse_qs(urlsplit(url).query):  # a timeout set in the URL is kept
        for service in sender:
            service.socket_read_timeout = SEND_TIMEOUT_SECONDS
    capture = apprise.LogCapture(level=logging.WARNING, fmt="%(message)s")  # type: ignore[no-untyped-call]
    with capture as captured:
        ok = bool(sender.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT))
    if ok:
        return True, "", False
    lines = [line for line in str(captured.getvalue()).splitlines() if line.strip()]
    why = lines[-1] if lines else "the service did not accept it"
    return False, printable(_scrub(why, url), limit=200), True


def quiet_apprise() -> None:
    """Apprise logs its failures at WARNING; with no handler configured, Python would print
    them on stderr, over a TUI. They are captured per send instead (`send`)."""
    log = logging.getLogger("apprise")
    log.addHandler(logging.NullHandler())
    log.propagate = False


def send_test(config: Config) -> list[tuple[str, bool, str]]:
    """`retrain-gate notify test`: one message to each URL, now; (url as shown, ok, why)."""
    quiet_apprise()
    project = project_name(config)
    title = f"retrain-gate ({project}): test message"
    body = (
        f"A test from retrain-gate notify test. Notifications for {project} "
        f"({', '.join(config.notify.events) or 'no events'}) will arrive here."
    )
    results = []
    for number, template in enumerate(config.notify.urls, start=1):
        ok, why, _retry = send(template, title, body)
        results.append((describe_url(template, number), ok, why))
    return results

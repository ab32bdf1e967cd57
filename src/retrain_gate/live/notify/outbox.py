"""The outbox, `notify.json` in the state folder: what the writer last observed and every
message it produced, with each delivery's state. Written whole, atomically, before anything is
sent, so a restart or a new writer sees the same observation and sends what is undelivered."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from retrain_gate.live.notify.texts import Observed

OUTBOX_NAME = "notify.json"
KEEP_FINISHED = 50  # delivered or given-up messages kept for the record (the file stays small)
MAX_MESSAGES = 500  # pending ones beyond this (a receiver down for days) are given up, oldest first

DeliveryStatus = Literal["pending", "sent", "failed"]


@dataclass
class Delivery:
    status: DeliveryStatus = "pending"
    attempts: int = 0
    next_at: float = 0.0
    error: str = ""
    done_at: float | None = None


@dataclass
class Outgoing:
    id: str
    event: str
    title: str
    body: str
    created: float
    deliveries: dict[str, Delivery]

    @property
    def finished(self) -> bool:
        return all(d.status != "pending" for d in self.deliveries.values())


@dataclass
class Outbox:
    observed: Observed | None = None
    messages: list[Outgoing] = field(default_factory=list)

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "version": 1,
            "observed": asdict(self.observed) if self.observed is not None else None,
            "messages": [asdict(m) for m in self.messages],
        }
        return json.dumps(data, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Outbox:
        data = json.loads(text)
        observed = Observed(**data["observed"]) if data.get("observed") else None
        messages = [
            Outgoing(
                **{k: v for k, v in m.items() if k != "deliveries"},
                deliveries={k: Delivery(**d) for k, d in m["deliveries"].items()},
            )
            for m in data.get("messages", [])
        ]
        return cls(observed, messages)


def load_outbox(state_dir: Path) -> tuple[Outbox, str | None]:
    """The outbox, and a problem to tell a person when it could not be read."""
    path = state_dir / OUTBOX_NAME
    try:
        return Outbox.from_json(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return Outbox(), None
    except OSError as exc:
        # The messages it held are lost with it: the notifier rebuilds them from the ledger.
        return Outbox(), f"{path}: the notification outbox could not be read ({exc.strerror})"
    except (ValueError, TypeError, KeyError, AttributeError):
        # Cut short, edited, or not JSON at all: what the decoder says of it helps nobody.
        return Outbox(), f"{path}: the notification outbox was damaged"


def delivery_problems(state_dir: Path, since: float) -> tuple[int, int, str]:
    """(retrying, failed since `since`, the latest error) in the outbox: for the processes that
    do not send (a dashboard following `watch`), so a failing webhook shows there too."""
    outbox, _problem = load_outbox(state_dir)
    retrying = failed = 0
    latest: tuple[float, str] = (-1.0, "")
    for message in outbox.messages:
        for delivery in message.deliveries.values():
            if delivery.status == "pending" and delivery.attempts:
                retrying += 1
            elif delivery.status == "failed" and (delivery.done_at or 0.0) >= since:
                failed += 1
            else:
                continue
            at = delivery.done_at or delivery.next_at
            if at >= latest[0]:
                latest = (at, delivery.error)
    return retrying, failed, latest[1]

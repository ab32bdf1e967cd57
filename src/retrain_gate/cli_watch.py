"""`retrain-gate watch`: a `GateService` whose events are printed, one stamped line each."""

from __future__ import annotations

import signal
import sys
import threading
import time
from types import FrameType

from retrain_gate.config import Config
from retrain_gate.live import events as live
from retrain_gate.live.service import GateService
from retrain_gate.render import decided_lines, gate_state, headline
from retrain_gate.text import clock, printable

_VERDICTS = {True: "ok", False: "no", None: "?"}  # None: could not be judged


class _Printer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: tuple[str, ...] | None = None  # the gates' state last printed

    def say(self, at: float, text: str, *, err: bool = False) -> None:
        with self._lock:
            print(f"{clock(at)} {text}", file=sys.stderr if err else sys.stdout, flush=True)

    def __call__(self, event: live.LiveEvent) -> None:
        match event:
            case live.ReportChanged(report=report, at=at):
                state = gate_state(report)
                if state == self._state:
                    return
                self._state = state
                gates = "  ".join(f"{g.name} {_VERDICTS[g.passed]}" for g in report.gates)
                self.say(at, f"{headline(report)}   [{gates}]")
                for line in decided_lines(report):
                    self.say(at, line.strip())
            case (
                live.Refused()
                | live.Problem()
                | live.PullFailed()
                | live.BucketUnreachable()
                | live.NotifyProblem()
                | live.NothingMapped()
            ):
                self.say(event.at, printable(event.text), err=True)
            case live.WatcherNote(kind="rescan"):
                return  # what the rescan found is shown by what it ingests
            case (
                live.Ingested()
                | live.Skipped()
                | live.Removed()
                | live.SettingsChanged()
                | live.PullStarted()
                | live.PullDone()
                | live.RoleChanged()
                | live.LedgerAppended()
                | live.AlertRaised()
                | live.AlertEnded()
                | live.WatcherStatus()
                | live.WatcherNote()
                | live.NotifyDelivered()
                | live.BucketReachable()
                | live.BucketSynced()
                | live.PullNotice()
            ):
                self.say(event.at, printable(event.text))
            case live.Progress() | live.RefusedFiles():
                return  # the lines above say what matters of them


def run_watch(config: Config) -> int:
    done = threading.Event()
    printer = _Printer()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    service = GateService(config, printer)
    printer.say(time.time(), f"watching {printable(config.paths.export_source)} (Ctrl-C to stop)")
    service.start()
    while not done.wait(0.2):
        pass
    service.close()
    printer.say(time.time(), "stopped")
    return 0

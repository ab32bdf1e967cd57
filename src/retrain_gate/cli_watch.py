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
from retrain_gate.models import Report
from retrain_gate.render import (
    decided_lines,
    gate_state,
    gate_verdict,
    headline,
    mapping_warnings,
    unmapped_text,
)
from retrain_gate.text import clock, printable


class _Printer:
    def __init__(self, config: Config) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._state: tuple[str, ...] | None = None  # the gates' state last printed
        self._warnings: list[str] = []  # what the mapping's lines last said
        self._refused: dict[str, str] = {}  # each refused file's reason, as last said

    def say(self, at: float, text: str, *, err: bool = False) -> None:
        with self._lock:
            print(f"{clock(at)} {text}", file=sys.stderr if err else sys.stdout, flush=True)

    def __call__(self, event: live.LiveEvent) -> None:
        match event:
            case live.ReportChanged(report=report, at=at):
                state = gate_state(report)
                if state != self._state:
                    self._state = state
                    gates = "  ".join(
                        f"{g.name} {gate_verdict(g, report.regression)}" for g in report.gates
                    )
                    self.say(at, f"{headline(report)}   [{gates}]")
                    for line in decided_lines(report):
                        self.say(at, line.strip())
                # Frames can arrive mapped to nonsense while every gate stays as it was.
                self._say_mapping(report, at)
            case live.Refused(result=result, at=at):
                self._refused[str(result.path)] = result.reason
                self.say(at, printable(event.text), err=True)
            case live.RefusedFiles(refused=refused, at=at):
                # Files refused before this watch started are never ingested again, so no
                # Refused event names them: say each once, as `check` does.
                for path, reason in refused.items():
                    if self._refused.get(path) != reason:
                        shown = printable(self._config.paths.shown(path))  # a bucket: its URL
                        self.say(at, f"refused {shown}: {printable(reason)}", err=True)
                self._refused = dict(refused)
            case (
                live.Problem()
                | live.PullFailed()
                | live.BucketUnreachable()
                | live.NotifyProblem()
                | live.NothingMapped()
                | live.ConfigEdited()
            ):
                self.say(event.at, printable(event.text), err=True)
            case live.WatcherNote(kind="rescan"):
                return  # what the rescan found is shown by what it ingests
            case (
                live.Ingested()
                | live.BatchRead()
                | live.Skipped()
                | live.Removed()
                | live.SettingsChanged()
                | live.NothingNew()
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
            case live.Progress():
                return  # the lines above say what matters of it

    def _say_mapping(self, report: Report, at: float) -> None:
        """What `check` says of frames the pattern maps to nothing (every frame unmapped is
        NothingMapped's line) or to nonsense, once each time it changes."""
        lines = [f"warning: {text}" for text in mapping_warnings(report, self._config)]
        if report.frames.unmapped and not report.unmapped.every_frame:
            lines.insert(0, unmapped_text(report, self._config))
        if lines != self._warnings:
            for line in lines:
                self.say(at, printable(line, limit=2000), err=True)
        self._warnings = lines


def run_watch(config: Config) -> int:
    done = threading.Event()
    printer = _Printer(config)

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

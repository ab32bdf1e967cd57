"""`retrain-gate tui`: the live dashboard.

The app owns a `GateService` (watcher, writer/follower role, ledger polling), started on mount
and closed on unmount. The service calls `_on_service_event` from its own threads; that
method only turns each event into a Textual message and posts it, so the UI thread never waits
on an ingest. Figures the report does not hold (the delta's history and forecast) are read in
a thread worker after each report. Decisions are written by the modals' thread workers
through `GateService.run_locked` and the same `actions` functions as the CLI.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import events, on, work
from textual._styles_cache import StylesCache
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Grid, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, RichLog
from textual.worker import Worker, WorkerState

from retrain_gate.config import Config
from retrain_gate.decisions.actions import (
    Recorded,
    SliceRow,
    acknowledge,
    approval_preview,
    approve,
    decline,
    pin_eval,
    report_regression,
)
from retrain_gate.decisions.output import news_line
from retrain_gate.engine import Engine
from retrain_gate.evalset import empty_pin_refusal
from retrain_gate.history import Outlook, engine_outlook
from retrain_gate.live import events as live
from retrain_gate.live.service import GateService
from retrain_gate.models import Report
from retrain_gate.text import clock as time_of_day
from retrain_gate.tui import figures
from retrain_gate.tui.messages import (
    Activity,
    IngestProgress,
    LedgerLine,
    NotifyState,
    OutlookReady,
    RefusedFiles,
    ReportReady,
    RoleChanged,
    WatchState,
)
from retrain_gate.tui.modals import (
    AckModal,
    ApproveModal,
    Decided,
    DecisionModal,
    DecisionRequest,
    DeclineModal,
    PinModal,
    ReportModal,
)
from retrain_gate.tui.screens import HelpScreen, LedgerScreen, RefusedScreen
from retrain_gate.tui.widgets import (
    ActivityLog,
    CostPanel,
    CoveragePanel,
    DecisionBanner,
    DeltaPanel,
    EvalPanel,
    Main,
    Panel,
    RegressionPanel,
    StatusBar,
    TasksPanel,
)

Clock = Callable[[], float]
ServiceFactory = Callable[[Config, live.Listener], GateService]

ACTIVITY_LINES = 500  # a days-long session must not grow the log without bound
BUSY_CLEAR_SECONDS = 3.0
# Two things in Textual (8.2) keep widgets long gone alive, with their rendered lines: the
# Footer's data binding of each FooterKey to its `compact` (the Footer recomposes its keys
# whenever the bindings change, at every modal or help screen, and only prunes bindings of
# closed keys when `compact` changes, which here is never), and `lru_cache` on the instance
# method `StylesCache.get_inner_outer` (up to 1024 of them; Textualize/textual#6665).
# Unpruned, every help open/close kept objects alive, memory grew all day, and the
# collector's full passes over them stalled key presses. Both are released at every screen
# change (which re-composes the Footer) and, for other binding changes, on a tick.
RELEASE_STALE_WIDGETS_SECONDS = 5.0
# The alert toast is the "look up" moment; the banner (which pulses until acknowledged) and
# the Activity log keep saying it. Left up, a toast covers panels and the help screen.
ALERT_TOAST_SECONDS = 6.0


def _alert_toast(report: Report) -> str:
    """What the alert toast says: the releases, where the banner and the panel keep the
    figures current."""
    regression = report.regression
    if regression.source == "statistics":
        return f"{regression.current} pre-annotates significantly worse than {regression.previous}."
    return report.reason


class DashboardScreen(Screen[object]):
    """The dashboard's own screen, for its own height breakpoint: the banner's blank rows
    above and below cost the panels two rows, and at the design size (120x40) those rows
    are the panels'."""

    VERTICAL_BREAKPOINTS = [(0, "-short"), (46, "-tall")]  # noqa: RUF012 (Textual's type)


class RetrainGateApp(App[int]):
    TITLE = "retrain-gate"
    ENABLE_COMMAND_PALETTE = True
    # Below 100 columns the panels stack; below 34 rows the forms shrink their figures.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # noqa: RUF012 (Textual's type)
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]  # noqa: RUF012

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "approve", "approve", id="approve", tooltip="Record a retrain approval"),
        # Not in the footer (full at 80 columns): the banner offers it when there is
        # something to decline, and help and the command palette list it.
        Binding(
            "d",
            "decline",
            "decline",
            id="decline",
            show=False,
            tooltip="Record that you looked and decided not to retrain now",
        ),
        Binding("a", "acknowledge", "ack", id="acknowledge", tooltip="Acknowledge the alert"),
        Binding("p", "pin_eval", "pin eval", id="pin_eval", tooltip="Pin the eval set"),
        Binding(
            "x",
            "report_regression",
            "report",
            id="report_regression",
            tooltip="Report a regression by hand",
        ),
        Binding("l", "ledger", "ledger", id="ledger", tooltip="Every recorded decision"),
        # Not in the footer either: only useful with [labelstudio] set (help lists it).
        Binding(
            "u",
            "pull",
            "pull",
            id="pull",
            show=False,
            tooltip="Pull a snapshot from Label Studio now",
        ),
        # Not in the footer (full at 80 columns): the status bar says "N files refused (f)".
        Binding("f", "refused", "refused", id="refused", show=False, tooltip="Refused files"),
        Binding("question_mark", "help", "help", id="help", key_display="?"),
        Binding("q", "quit", "quit", id="quit"),
    ]

    CSS = """
    Screen { layout: vertical; }
    #banner { height: auto; }
    Screen.-tall #banner { padding: 1 1; }
    #main { height: 1fr; }
    /* The panels take what they need, up to what leaves the log its minimum (Main sets the
       limit from its height); the log gets the rest. */
    #body { height: auto; }
    #panels {
        layout: grid; grid-size: 2; grid-columns: 1fr 1fr; grid-rows: auto; height: auto;
    }
    Screen.-narrow #panels { grid-size: 1; grid-columns: 1fr; }
    #panels > Panel { height: 100%; }
    RegressionPanel.-alert { border: round $error; }
    #activity {
        height: 1fr; border: round $primary 40%; padding: 0 1;
        /* Lines are wrapped when written; a scrollbar appearing later would clip them. */
        scrollbar-gutter: stable;
        border-title-color: $text; border-title-style: bold;
    }
    """

    def __init__(
        self,
        config: Config,
        *,
        live: bool = True,
        clock: Clock | None = None,
        service_factory: ServiceFactory | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.live = live
        self.clock: Clock = clock or time.time
        self._service_factory = service_factory or GateService
        self.service: GateService | None = None
        self.report: Report | None = None
        self.outlook: Outlook | None = None
        self._alerted: str | None = None  # the alert already announced with bell + notify
        self._acked: str | None = None
        # The decline and the approval request last written to the activity log (by seq).
        self._logged_decisions: set[int] = set()
        self._pulse: Timer | None = None
        self._busy_timer: Timer | None = None
        self.refused: dict[str, str] = {}
        self.ignored: dict[str, str] = {}
        # Ledger entries this dashboard wrote: their line is already in Activity (_decided).
        self._own_seqs: set[int] = set()

    # ------------------------------------------------------------ layout

    def get_default_screen(self) -> Screen[object]:
        return DashboardScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield StatusBar(self.config, id="status")
        yield DecisionBanner(id="banner")
        with Main(id="main"):
            with VerticalScroll(id="body"):
                with Grid(id="panels"):
                    yield DeltaPanel("Delta since the last training", self.config, id="delta")
                    yield CoveragePanel(
                        "Task coverage of the new episodes", self.config, id="tasks"
                    )
                    yield EvalPanel("Eval set", self.config, id="eval")
                    yield RegressionPanel(
                        "Pre-annotation quality: corrections per episode",
                        self.config,
                        id="releases",
                    )
                # Outside the grid: a spanning cell there is measured at one column's width.
                yield TasksPanel("Episodes per task", self.config, id="per-task")
                yield CostPanel("If you retrained now", self.config, id="cost")
            yield self._activity_log()
        yield Footer()

    def _activity_log(self) -> ActivityLog:
        log = ActivityLog(
            id="activity",
            max_lines=ACTIVITY_LINES,
            wrap=True,
            markup=False,
            highlight=False,
            min_width=20,  # the default (78) would clip wrapped lines on an 80-column screen
        )
        log.border_title = "Activity"
        log.can_focus = False
        return log

    def on_mount(self) -> None:
        self.query_one(DecisionBanner).show(None)
        self.call_after_refresh(self._place_toasts)
        self.set_interval(RELEASE_STALE_WIDGETS_SECONDS, self.release_stale_widgets)
        self.screen_change_signal.subscribe(self, lambda _screen: self.release_stale_widgets())
        if not self.live:
            self.query_one(StatusBar).set(watcher_state="off")
            return
        # What start-up allocated (imports, widgets) lives as long as the app: kept out of the
        # collector's generations, full collections no longer walk it on key presses.
        gc.freeze()
        self.service = self._service_factory(self.config, self._on_service_event)
        self.log_line(f"starting: {figures.export_folder(self.config)}")
        self.service.start()

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self._place_toasts)

    def on_activity_log_resized(self, event: ActivityLog.Resized) -> None:
        # The panels' height moves the log (a decline adds a banner line, say).
        self.call_after_refresh(self._place_toasts)

    def _place_toasts(self) -> None:
        """Toasts sit just above the Activity log, over the scrollable panels for their few
        seconds, never over the newest lines. The log's height depends on the
        screen's, so the margin is measured rather than written in the CSS."""
        dashboard = self.screen_stack[0] if self.screen_stack else None
        if dashboard is None:
            return
        try:
            rack = dashboard.query_one("#textual-toastrack")
            activity = dashboard.query_one("#activity")
        except NoMatches:
            return  # notifications are off (tests), or the dashboard is being torn down
        if activity.region.height:
            rack.styles.margin = (0, 0, max(dashboard.size.height - activity.region.y, 1), 0)

    def release_stale_widgets(self) -> None:
        """Let go of widgets Textual still references after removing them (see above)."""
        clear = getattr(StylesCache.get_inner_outer, "cache_clear", None)
        if clear is not None:  # a Textual without the lru_cache needs nothing
            clear()
        # Forcing the watchers to run is how Textual prunes those of closed widgets.
        for footer in self.query(Footer):
            footer.mutate_reactive(Footer.compact)

    def on_unmount(self) -> None:
        if self.service is not None:
            self.service.close()

    # ------------------------------------------------------------ service -> messages

    def _on_service_event(self, event: live.LiveEvent) -> None:
        """Called from the service's threads: post messages, touch nothing else."""
        post = self.post_message
        match event:
            case live.ReportChanged(report=report, why=why, at=at):
                post(ReportReady(report, why, at))
            case live.Progress(stage=stage, done=done, total=total):
                post(IngestProgress(stage, done, total))
            case live.Ingested():
                post(Activity(event.text, event.at, ingested=True, ingest_done=True))
            case live.Refused():
                post(Activity(event.text, event.at, level="warning", ingest_done=True))
            case live.Skipped() | live.Removed() | live.NothingNew():
                post(Activity(event.text, event.at, ingest_done=True))
            case live.BatchRead(ingested=ingested, text=text, at=at):
                post(Activity(text, at, ingested=ingested, ingest_done=True))
            case live.WatcherStatus(status=status, text=text, at=at):
                post(WatchState(status, text, at))
                post(Activity(text, at, level="error" if status == "error" else "info"))
            case live.RefusedFiles(refused=refused, ignored=ignored):
                post(RefusedFiles(dict(refused), dict(ignored)))
            case live.LedgerAppended(seq=seq, text=text, at=at):
                post(LedgerLine(text, seq, at))
            case live.RoleChanged(role=role, text=text, at=at):
                post(RoleChanged(role, text, at))
            case live.Problem() | live.PullFailed():
                post(Activity(event.text, event.at, level="error", ingest_done=True))
            case live.BucketUnreachable(text=text, at=at):
                # the header says it as long as it lasts, like an unreadable folder
                post(WatchState("error", text, at))
                post(Activity(text, at, level="error"))
            case live.BucketReachable(status=status, text=text, at=at):
                post(WatchState(status, text, at))
                post(Activity(text, at))
            case live.NotifyProblem(text=text, level=level, at=at):
                # A failed delivery is an error toast like any other; retries are only logged.
                post(Activity(text, at, level=level))
                post(NotifyState(level, text, at))
            case live.NotifyDelivered(text=text, at=at):
                post(Activity(text, at))
                post(NotifyState("info", text, at))
            case live.NothingMapped(text=text, at=at) | live.ConfigEdited(text=text, at=at):
                post(Activity(text, at, level="warning"))
            case (
                live.SettingsChanged()
                | live.PullStarted()
                | live.PullDone()
                | live.WatcherNote()
                | live.PullNotice()
                | live.BucketSynced()
            ):
                post(Activity(event.text, event.at))
            case live.AlertRaised() | live.AlertEnded():
                pass  # drawn from each report (_alert), with the figures that raised it

    # ------------------------------------------------------------ message handlers

    def _dashboard_gone(self) -> bool:
        """The service's messages keep arriving while the app shuts down (q pressed during an
        ingest), after the dashboard's widgets are gone; they are dropped then."""
        try:
            self.query_one(StatusBar)
        except NoMatches:
            return True
        return False

    @on(ReportReady)
    def _report_ready(self, message: ReportReady) -> None:
        if self._dashboard_gone():
            return
        self.show_report(message.report)
        if self.service is not None:
            self._read_outlook(message.report)

    @on(OutlookReady)
    def _outlook_ready(self, message: OutlookReady) -> None:
        if self._dashboard_gone():
            return
        self.outlook = message.outlook
        status = self.query_one(StatusBar)
        if message.outlook.last_ingest_at is not None and status.last_ingest is None:
            status.set(last_ingest=message.outlook.last_ingest_at)
        self._refresh_panels()

    @on(IngestProgress)
    def _progress(self, message: IngestProgress) -> None:
        if self._dashboard_gone():
            return
        self.query_one(StatusBar).set(busy=(message.stage, message.done, message.total))
        # An unchanged file ends without an ingest update; do not leave the indicator on.
        if self._busy_timer is not None:
            self._busy_timer.stop()
        self._busy_timer = self.set_timer(BUSY_CLEAR_SECONDS, self._clear_busy)

    def _clear_busy(self) -> None:
        if self._dashboard_gone():
            return
        self.query_one(StatusBar).set(busy=None)

    @on(Activity)
    def _activity(self, message: Activity) -> None:
        if self._dashboard_gone():
            return
        style = {"warning": "yellow", "error": "bold red"}.get(message.level, "")
        self.log_line(message.text, at=message.at, style=style)
        status = self.query_one(StatusBar)
        if message.ingest_done:
            status.set(busy=None)
        if message.ingested:
            status.set(last_ingest=message.at)
        if message.level == "error":
            self.notify(figures.safe(message.text, 300), severity="error", markup=False)

    @on(RefusedFiles)
    def _refused_files(self, message: RefusedFiles) -> None:
        if self._dashboard_gone():
            return
        self.refused = message.refused
        self.ignored = message.ignored
        self.query_one(StatusBar).set(refused=len(message.refused))

    @on(LedgerLine)
    def _ledger_line(self, message: LedgerLine) -> None:
        if self._dashboard_gone() or message.seq in self._own_seqs:
            return
        self.log_line(message.text, at=message.at, style="cyan")

    @on(WatchState)
    def _watch_state(self, message: WatchState) -> None:
        if self._dashboard_gone():
            return
        self.query_one(StatusBar).set(watcher_state=message.status, watcher_text=message.text)

    @on(NotifyState)
    def _notify_state(self, message: NotifyState) -> None:
        if self._dashboard_gone():
            return
        # The latest outcome decides: a delivery that went through clears the warning.
        failing = None if message.level == "info" else message.level == "error"
        self.query_one(StatusBar).set(notify_failing=failing)

    @on(RoleChanged)
    def _role_changed(self, message: RoleChanged) -> None:
        if self._dashboard_gone():
            return
        self.query_one(StatusBar).set(role=message.role, role_text=message.text)
        self.log_line(message.text, at=message.at, style="cyan")

    # ------------------------------------------------------------ drawing

    def show_report(self, report: Report) -> None:
        self.report = report
        self.query_one(DecisionBanner).show(report)
        self._refresh_panels()
        self._alert(report)
        self._log_decisions(report)
        if isinstance(self.screen, DecisionModal):
            self.screen.update_report(report)

    def _refresh_panels(self) -> None:
        for panel in self.query(Panel):
            panel.show(self.report, self.outlook)

    def log_line(self, text: str, *, at: float | None = None, style: str = "") -> None:
        # File names read better relative to the watched folder, as the header shows it.
        folder = str(self.config.paths.export_dir)
        text = text.replace(folder + "/", "").replace(folder, "the export folder")
        # Two columns, as the help screen's definitions: a line that wraps hangs under its own
        # text, leaving the time alone at the left edge.
        line = Table.grid(padding=(0, 1))
        line.add_column(no_wrap=True)
        line.add_column(ratio=1)
        # The whole line is dim, the style on top of it (as when it was one Text styled dim).
        line.add_row(
            Text(time_of_day(self.clock() if at is None else at), style="dim"),
            Text(figures.safe(text, 600), style=f"dim {style}".strip()),
        )
        # expand: measured alone, a long line is capped at the console's default width (80).
        self.query_one("#activity", RichLog).write(line, expand=True)

    def _alert(self, report: Report) -> None:
        regression = report.regression
        if not regression.active:
            if self._alerted is not None:
                self.clear_notifications()  # the alert's toast must not outlive the alert
            self._alerted = self._acked = None
            self._stop_pulse()
            return
        key = regression.alert_key or f"{regression.source}:{regression.current}"
        if regression.acknowledged_by:
            self._stop_pulse()
            if self._acked != key:
                self.clear_notifications()  # the alert toast has done its job
                self._acked = key
                self._alerted = key  # an alert acknowledged before this start is not news
                self.log_line(
                    f"alert acknowledged by {regression.acknowledged_by} "
                    f"at {figures.when(regression.acknowledged_at)}",
                    style="yellow",
                )
            return
        if self._alerted != key:
            self._alerted = key
            self.bell()
            self.notify(
                figures.safe(_alert_toast(report), 300) + "\nPress a to acknowledge.",
                title="Regression alert",
                severity="error",
                timeout=ALERT_TOAST_SECONDS,
                markup=False,
            )
            self.log_line(f"ALERT {report.reason}", style="bold red")
        if self.live and self._pulse is None:
            self._pulse = self.set_interval(1.0, self._toggle_pulse)

    def _log_decisions(self, report: Report) -> None:
        """A decline or an approval request, from this dashboard or any other process, is
        written to the activity log once."""
        declined, pending = report.declined, report.pending_approval
        if declined is not None and declined.seq not in self._logged_decisions:
            self.log_line(
                f"declined by {declined.by} at {figures.when(declined.at)}: {declined.note}",
                style="yellow",
            )
        if pending is not None and pending.seq not in self._logged_decisions:
            self.log_line(
                f"approval requested by {pending.by} at {figures.when(pending.at)}: "
                f"{pending.note}; waiting for a second approver (r confirms, d declines)",
                style="yellow",
            )
        # Two numbers at most: only the current ones can come back.
        self._logged_decisions = {d.seq for d in (declined, pending) if d is not None}

    def _toggle_pulse(self) -> None:
        self.query_one(DecisionBanner).toggle_class("-pulse")

    def _stop_pulse(self) -> None:
        if self._pulse is not None:
            self._pulse.stop()
            self._pulse = None
        self.query_one(DecisionBanner).remove_class("-pulse")

    # ------------------------------------------------------------ workers

    @work(thread=True, exclusive=True, group="outlook", exit_on_error=False)
    def _read_outlook(self, report: Report) -> None:
        service = self.service
        if service is None:
            return
        outlook = service.read(lambda engine: engine_outlook(engine, report))
        self.post_message(OutlookReady(outlook))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.group == "outlook":
            self.log_line(
                f"could not read the delta's history: {event.worker.error!r}", style="yellow"
            )

    # ------------------------------------------------------------ actions

    def _submit(self, request: DecisionRequest) -> Recorded:
        """Runs in a modal's thread worker: the write holds the service's lock, not the UI."""
        service = self.service
        if service is None:
            raise RuntimeError("no live service: this dashboard is read-only")

        def decide(engine: Engine) -> Recorded:
            if request.kind == "approve":
                return approve(engine, by=request.by, note=request.note, override=request.override)
            if request.kind == "decline":
                return decline(engine, by=request.by, note=request.note)
            if request.kind == "ack":
                return acknowledge(engine, by=request.by, note=request.note)
            if request.kind == "pin":
                return pin_eval(engine, by=request.by, note=request.note)
            return report_regression(engine, by=request.by, note=request.note)

        def act(engine: Engine) -> Recorded:
            recorded = decide(engine)
            # Still under the service's lock, so its ledger reader cannot see the entry first.
            self._own_seqs.add(recorded.entry.seq)
            return recorded

        return service.run_locked(act)

    def _open(self, modal: type[DecisionModal]) -> None:
        if self.report is None:
            self.notify("the figures are not ready yet", severity="warning")
            return
        if self.service is None:
            self.notify("this dashboard is read-only (no live service)", severity="warning")
            return
        # The alert toast would cover the form; the banner keeps saying it.
        self.clear_notifications()
        self.push_screen(modal(self.report, self._submit, self._preview), self._decided)

    def _preview(self) -> list[SliceRow]:
        """Runs in the approval modal's thread worker: the episodes it would approve."""
        service = self.service
        if service is None:
            return []
        return service.read(approval_preview)

    def _decided(self, decided: Decided | None) -> None:
        if decided is None:
            self.log_line("cancelled: nothing recorded", style="dim")
            return
        recorded = decided.recorded
        # The same line another process's decision gets (LedgerLine), who included; the
        # report's own "declined by" / "requested by" line is then not written again.
        self.log_line(news_line(recorded.entry), style="bold green")
        if recorded.entry.kind in ("decline", "request"):
            self._logged_decisions.add(recorded.entry.seq)
        if recorded.manifest is not None:
            self.log_line(f"training slice: {recorded.manifest}")
        # After the report: an alert the decision ended or acknowledged clears the toasts.
        self.show_report(recorded.report)
        self.notify(figures.safe(recorded.message, 300), title="Recorded", markup=False)

    def action_approve(self) -> None:
        self._open(ApproveModal)

    def action_decline(self) -> None:
        report = self.report
        if report is not None and not report.ready and report.pending_approval is None:
            self.notify("the gates say WAIT: there is no retrain to decline")
            return
        self._open(DeclineModal)

    def action_acknowledge(self) -> None:
        report = self.report
        if report is not None and not report.regression.active:
            self.notify("there is no open regression alert to acknowledge")
            return
        self._open(AckModal)

    def action_pin_eval(self) -> None:
        report = self.report
        if report is not None:
            # Said before the form, not after a name and a note were typed into it.
            empty = empty_pin_refusal(self.config.paths.eval_set, report.eval.current_hash)
            if empty is not None:
                self.notify(figures.safe(empty, 300), severity="warning", markup=False)
                return
        self._open(PinModal)

    def action_report_regression(self) -> None:
        self._open(ReportModal)

    def action_ledger(self) -> None:
        self.clear_notifications()  # a toast would cover the screen asked for
        self.push_screen(LedgerScreen(self.config.paths.state_dir))

    def action_help(self) -> None:
        self.clear_notifications()
        self.push_screen(HelpScreen())

    def action_refused(self) -> None:
        if not (self.refused or self.ignored):
            self.notify("no refused files in the export folder")
            return
        self.clear_notifications()
        self.push_screen(RefusedScreen(self.refused, self.config, self.ignored))

    def action_pull(self) -> None:
        if self.service is None:
            self.notify("this dashboard is read-only (no live service)", severity="warning")
            return
        message = self.service.pull_now()
        self.log_line(message)
        self.notify(message, markup=False)

    DASHBOARD_ACTIONS: ClassVar[frozenset[str]] = frozenset(
        {
            "approve",
            "decline",
            "acknowledge",
            "pin_eval",
            "report_regression",
            "ledger",
            "refused",
            "pull",
            "help",
            "quit",
        }
    )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # App bindings reach every screen: a stray `r` or `q` on a modal's button must not
        # open a second decision or quit with a decision half-typed.
        on_dashboard = self.screen is self.screen_stack[0]
        return on_dashboard or action not in self.DASHBOARD_ACTIONS

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Approve a retrain", "record who approved, and what (r)", self.action_approve
        )
        yield SystemCommand(
            "Decline a retrain",
            "record that you decided not to retrain now, and why (d)",
            self.action_decline,
        )
        yield SystemCommand(
            "Acknowledge the alert", "record that you saw it (a)", self.action_acknowledge
        )
        yield SystemCommand(
            "Pin the eval set", "compare models on the eval set as it is (p)", self.action_pin_eval
        )
        yield SystemCommand(
            "Report a regression", "labelers say it got worse (x)", self.action_report_regression
        )
        yield SystemCommand("Ledger history", "every recorded decision (l)", self.action_ledger)
        yield SystemCommand("Help", "what the figures mean (?)", self.action_help)


def make_app(
    config: Config,
    *,
    live: bool = True,
    clock: Clock | None = None,
    service_factory: ServiceFactory | None = None,
) -> RetrainGateApp:
    """The app for `config`. With `live=False` no service runs (snapshots feed messages)."""
    return RetrainGateApp(config, live=live, clock=clock, service_factory=service_factory)


def run_tui(config: Config) -> int:
    app = make_app(config)
    app.run()
    return app.return_code or 0

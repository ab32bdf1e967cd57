"""The dashboard's widgets. Each panel renders `Text` from figures.py at its current width."""

from __future__ import annotations

from rich.text import Text
from textual.containers import Vertical
from textual.events import Resize
from textual.message import Message
from textual.widget import Widget
from textual.widgets import RichLog

from retrain_gate.config import Config
from retrain_gate.history import Outlook
from retrain_gate.models import Report
from retrain_gate.text import clock, plural
from retrain_gate.tui import figures


class StatusBar(Widget):
    """One line: what is watched and how, the last ingest, and a busy indicator."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; }
    """

    def __init__(self, config: Config, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.config = config
        self.role = "starting"
        self.role_text = ""
        self.watcher_state = "starting"
        self.watcher_text = ""
        self.last_ingest: float | None = None
        self.busy: tuple[str, int, int] | None = None
        self.refused = 0  # files refused in their current form
        # None: notifications fine (or none); False: retrying; True: a delivery failed for good.
        self.notify_failing: bool | None = None

    def set(self, **changes: object) -> None:
        for key, value in changes.items():
            setattr(self, key, value)
        self.refresh()

    def state_text(self, *, short: bool = False) -> tuple[str, str]:
        """(words, style) for the watcher state; `short` names the folder without its path."""
        folder = figures.safe(figures.export_folder(self.config, short=short), 60)
        if self.role == "following":
            return "following another writer (read-only)", "bold cyan"
        if self.role == "stopped":
            return "stopped", "bold red"
        if self.watcher_state in ("live", "polling") and self.config.paths.bucket is not None:
            return f"watching {folder} (listed every {self.config.paths.poll_seconds:g} s)", (
                "bold green"
            )
        if self.watcher_state == "live":
            return f"watching {folder} (live)", "bold green"
        if self.watcher_state == "polling":
            return f"watching {folder} (polling)", "bold green"
        if self.watcher_state == "folder_missing" and self.config.paths.bucket is not None:
            # the mirror folder is made by the first listing: nothing for a person to create
            return f"listing {folder} for the first time", "yellow"
        if self.watcher_state == "folder_missing":
            return f"waiting for the folder {folder}", "bold yellow"
        if self.watcher_state == "error" and self.config.paths.bucket is not None:
            # the poller's line names the bucket already: 'bucket s3://… unreachable since …'
            return figures.safe(self.watcher_text, 140), "bold red"
        if self.watcher_state == "error":
            return f"error watching {folder}: {figures.safe(self.watcher_text, 80)}", "bold red"
        if self.watcher_state == "off":
            return "not watching (snapshot)", "dim"
        return f"starting: {folder}", "yellow"

    def render(self) -> Text:
        width = self.content_size.width or 80
        left = self._left(short=False)
        if left.cell_len > width:
            left = self._left(short=True)
        state = figures.safe(figures.relative_path(self.config.paths.state_dir, self.config), 40)
        right = Text(f"state {state} ", style="dim")
        if left.cell_len + right.cell_len + 1 <= width:
            left.append(" " * (width - left.cell_len - right.cell_len))
            left.append_text(right)
        left.truncate(width, overflow="ellipsis")
        return left

    def _left(self, *, short: bool) -> Text:
        words, style = self.state_text(short=short)
        left = Text(" retrain-gate · ", style="bold")
        left.append(words, style=style)
        if self.refused:
            # Lasting: until the files are fixed or removed, not only when they were refused.
            left.append(" · ")
            files = plural(self.refused, "file")
            left.append(f" {files} refused (f) ", style="bold black on yellow")
        if self.last_ingest is not None:
            left.append(f" · last ingest {clock(self.last_ingest)}")
        if self.notify_failing is not None:
            words = "notification failed" if self.notify_failing else "notification retrying"
            left.append(" · ")
            left.append(words, style="bold red" if self.notify_failing else "bold yellow")
        if self.busy is not None:
            stage, done, total = self.busy
            share = f" {done * 100 // total}%" if total else ""
            left.append("  ")
            left.append(f" ⟳ ingesting: {figures.safe(stage, 30)}{share} ", style="bold reverse")
        return left


class DecisionBanner(Widget):
    DEFAULT_CSS = """
    DecisionBanner {
        height: auto; padding: 0 1; margin: 0 0 0 0;
        background: $panel; color: $text;
        &.-ready { background: $success 70%; color: $text; }
        &.-wait { background: $warning 60%; color: $text; }
        &.-regression { background: $error 80%; color: $text; }
        &.-regression.-pulse { background: $error 50%; }
        &.-acked { background: $error 45%; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.report: Report | None = None

    def show(self, report: Report | None) -> None:
        self.report = report
        css, _ = figures.banner(report)
        for name in ("-pending", "-ready", "-wait", "-regression"):
            self.set_class(name == css, name)
        acked = report is not None and bool(report.regression.acknowledged_by)
        self.set_class(css == "-regression" and acked, "-acked")
        self.refresh(layout=True)

    def render(self) -> Text:
        _, text = figures.banner(self.report)
        text.no_wrap = False
        return text


class ActivityLog(RichLog):
    """The activity log. It follows the newest line, also after the terminal is resized: a
    resize changes its height, and RichLog keeps the old scroll offset, which left the
    newest lines below the fold (Textual calls RichLog's own resize handler as well)."""

    class Resized(Message):
        """The log changed size (and so place): toasts are placed just above it."""

    def on_resize(self, event: Resize) -> None:
        self.call_after_refresh(self.scroll_end, animate=False, immediate=True, x_axis=False)
        self.post_message(self.Resized())


class Panel(Widget):
    """A bordered panel that redraws its figures at its current width."""

    DEFAULT_CSS = """
    Panel {
        height: auto; border: round $primary 60%; padding: 0 1;
        border-title-color: $text; border-title-style: bold;
    }
    """

    # Long lines wrap (so a new text can change the height without changing its line count).
    WRAPS = False

    def __init__(self, title: str, config: Config, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = title
        self.config = config
        self.report: Report | None = None
        self.outlook: Outlook | None = None
        self._drawn: tuple[int, Text] | None = None  # (width, text) of the last render

    def show(self, report: Report | None, outlook: Outlook | None) -> None:
        self.report = report
        self.outlook = outlook
        # A new report redraws every panel; re-laying out the screen for each one was most of
        # the dashboard's stall after an ingest. A panel whose text is unchanged is left
        # alone, and one whose height cannot have changed repaints without a layout pass.
        drawn = self._drawn
        if drawn is None or report is None:
            self.refresh(layout=True)
            return
        width, before = drawn
        after = self.figures(report, width)
        if after == before and after.style == before.style:  # == compares text and spans
            return
        same_height = not self.WRAPS and after.plain.count("\n") == before.plain.count("\n")
        self.refresh(layout=not same_height)

    def render(self) -> Text:
        if self.report is None:
            self._drawn = None
            return Text("…", style="dim")
        width = self.content_size.width or 40
        text = self.figures(self.report, width)
        self._drawn = (width, text.copy())
        text.no_wrap = not self.WRAPS
        text.overflow = "fold" if self.WRAPS else "ellipsis"
        return text

    def figures(self, report: Report, width: int) -> Text:
        raise NotImplementedError


class DeltaPanel(Panel):
    def figures(self, report: Report, width: int) -> Text:
        return figures.delta_panel(report, self.outlook, width, self.config)


class CoveragePanel(Panel):
    def figures(self, report: Report, width: int) -> Text:
        return figures.coverage_panel(report, self.config, width)


class TasksPanel(Panel):
    def figures(self, report: Report, width: int) -> Text:
        return figures.tasks_table(report, width)


class EvalPanel(Panel):
    def figures(self, report: Report, width: int) -> Text:
        return figures.eval_panel(report, self.config, width)


class RegressionPanel(Panel):
    def figures(self, report: Report, width: int) -> Text:
        return figures.regression_panel(report, width)

    def show(self, report: Report | None, outlook: Outlook | None) -> None:
        super().show(report, outlook)
        alert = report is not None and report.regression.active
        self.set_class(alert, "-alert")


class CostPanel(Panel):
    WRAPS = True  # sentences here are long; wrapping reads better than an ellipsis

    def figures(self, report: Report, width: int) -> Text:
        return figures.cost_panel(report, self.outlook, self.config)


class Main(Vertical):
    """The scrolling panels above the Activity log. The panels take the height they need,
    up to what leaves the log `ACTIVITY_MIN_ROWS`; the log takes the rest. CSS alone cannot
    say "auto, but at most the parent minus N rows": a percentage either wastes rows on a
    tall screen or, when the banner grows (a decline adds a line), pushes the log below the
    screen and makes the whole screen scroll."""

    ACTIVITY_MIN_ROWS = 5  # three lines inside the border

    DEFAULT_CSS = """
    Main { height: 1fr; }
    """

    def on_resize(self, event: Resize) -> None:
        limit = max(self.size.height - self.ACTIVITY_MIN_ROWS, 1)
        for body in self.query_children("#body"):
            body.styles.max_height = limit

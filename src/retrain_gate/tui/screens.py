"""The ledger history and the help screen."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.events import Resize
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from retrain_gate.config import Config
from retrain_gate.decisions.ledger import Ledger, LedgerEntry
from retrain_gate.decisions.names import NOTE_MAX
from retrain_gate.decisions.output import entry_details, entry_summary, origin
from retrain_gate.text import plural
from retrain_gate.tui import figures
from retrain_gate.tui.figures import clip


def _utc(ts: str) -> str:
    """A ledger time as stored (UTC), to the second: the zone is named in the column."""
    return ts.replace("T", " ")[:19]


def entry_detail(entry: LedgerEntry) -> Table:
    """Everything an auditor reads in one entry, the whole reason included: each value wraps
    under its own first word."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=8, style="bold")
    grid.add_column(ratio=1)
    rows = [
        ("entry", f"#{entry.seq} ({entry.kind})"),
        ("meaning", entry.meaning),
        ("name", entry.actor),
        ("time", f"{entry.ts} (UTC)"),
        ("from", origin(entry)),
        ("reason", entry.reason),
        ("recorded", entry_details(entry)),
        ("hash", entry.hash),
    ]
    for label, value in rows:
        if value:
            grid.add_row(Text(label), Text(figures.safe(value, NOTE_MAX + 200)))
    return grid


class LedgerScreen(Screen[None]):
    """Every recorded decision, newest first, and the whole of the highlighted one below.
    Read in a worker: the ledger can be long."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,l,q", "close", "back", id="ledger.close"),
    ]

    DEFAULT_CSS = """
    LedgerScreen #ledger-title { height: 1; background: $panel; text-style: bold; padding: 0 1; }
    LedgerScreen DataTable { height: 1fr; }
    LedgerScreen #detail {
        height: auto; max-height: 60%; border-top: solid $primary 50%; padding: 0 1;
    }
    """

    def __init__(self, state_dir: Path) -> None:
        super().__init__()
        self.state_dir = state_dir
        self._entries: dict[str, LedgerEntry] = {}

    def compose(self) -> ComposeResult:
        yield Static(
            Text("Ledger: every recorded decision, newest first · times in UTC"),
            id="ledger-title",
        )
        yield DataTable(id="ledger", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="detail"):
            yield Static(Text(""), id="detail-text")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.loading = True
        self._load()

    @work(thread=True, exclusive=True, group="ledger", exit_on_error=False)
    def _load(self) -> list[LedgerEntry]:
        return Ledger(self.state_dir).entries()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "ledger":
            return
        table = self.query_one(DataTable)
        if event.state == WorkerState.SUCCESS:
            table.loading = False
            entries = event.worker.result
            assert isinstance(entries, list)
            self._entries = {str(entry.seq): entry for entry in entries}
            self._fill()
            if not entries:
                self.query_one("#ledger-title", Static).update(
                    Text("Ledger: no decisions recorded yet")
                )
        elif event.state == WorkerState.ERROR:
            table.loading = False
            self.query_one("#ledger-title", Static).update(
                Text(f"Ledger: cannot read it: {figures.safe(event.worker.error, 300)}")
            )

    def on_resize(self, event: Resize) -> None:
        if self._entries:
            self._fill()

    def _fill(self) -> None:
        """One row per entry, as wide as the screen: `what` is cut to the room left (with an
        ellipsis), and the highlighted entry is shown whole below, its reason included."""
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear(columns=True)
        entries = sorted(self._entries.values(), key=lambda e: e.seq, reverse=True)
        seq_width = max((len(str(e.seq)) for e in entries), default=1)
        by_width = min(max((len(figures.safe(e.actor, 40)) for e in entries), default=2), 20)
        # Each column has one cell of padding either side; 2 more for the vertical scrollbar.
        room = self.size.width - 4 * 2 - seq_width - 19 - by_width - 2
        what_width = max(room, 20)
        table.add_column("#", width=seq_width)
        table.add_column("when (UTC)", width=19)
        table.add_column("by", width=by_width)
        table.add_column("what", width=what_width)
        for entry in entries:
            table.add_row(
                Text(str(entry.seq)),
                Text(_utc(entry.ts)),
                Text(clip(figures.safe(entry.actor, 40), by_width)),
                Text(clip(figures.safe(entry_summary(entry), 300), what_width)),
                key=str(entry.seq),
            )
        if entries:
            table.move_cursor(row=min(keep, len(entries) - 1))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        entry = self._entries.get(str(event.row_key.value))
        if entry is not None:
            self.query_one("#detail-text", Static).update(entry_detail(entry))

    def action_close(self) -> None:
        self.dismiss(None)


class RefusedScreen(Screen[None]):
    """The files in the export folder that were refused, each with its reason. They stay
    listed (and counted in the status bar) until the file is fixed, replaced or removed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f,q", "close", "back", id="refused.close"),
    ]

    DEFAULT_CSS = """
    RefusedScreen #refused-title { height: auto; background: $panel; text-style: bold;
        padding: 0 1; }
    RefusedScreen VerticalScroll { height: 1fr; padding: 0 1; }
    """

    MAX_SHOWN = 200

    def __init__(
        self, refused: dict[str, str], config: Config, ignored: dict[str, str] | None = None
    ) -> None:
        super().__init__()
        self.refused = dict(refused)
        self.ignored = dict(ignored or {})
        self.config = config

    def compose(self) -> ComposeResult:
        count = len(self.refused)
        if count:
            title = (
                f"Refused: {plural(count, 'file')} in the export folder. Fix or remove each one; "
                "the figures leave them out until then."
            )
        else:
            title = "Refused: no file is refused now"
        yield Static(Text(title), id="refused-title")
        with VerticalScroll():
            yield Static(self._listing(), id="refused-list")
        yield Footer()

    def _listing(self) -> Group:
        """Each file's name, then its reason indented under it (a long one wraps there)."""
        parts: list[RenderableType] = []
        folder = self.config.paths.export_dir
        for path, reason in sorted(self.refused.items())[: self.MAX_SHOWN]:
            shown = path.removeprefix(str(folder) + "/")
            parts.append(Text(figures.safe(shown, 300), style="bold"))
            grid = Table.grid(padding=(0, 1))
            grid.add_column(width=1)
            grid.add_column(ratio=1)
            grid.add_row("", Text(figures.safe(reason, 600), style="yellow"))
            parts.append(grid)
        if len(self.refused) > self.MAX_SHOWN:
            parts.append(Text(f"+{len(self.refused) - self.MAX_SHOWN} more", style="dim"))
        if self.ignored:
            parts.append(
                Text(
                    f"\nIgnored ({plural(len(self.ignored), 'file')}: not Label Studio files; "
                    "no figure uses them)",
                    style="bold",
                )
            )
        for path, reason in sorted(self.ignored.items())[: self.MAX_SHOWN]:
            parts.append(Text(figures.safe(path.removeprefix(str(folder) + "/"), 300)))
            grid = Table.grid(padding=(0, 1))
            grid.add_column(width=1)
            grid.add_column(ratio=1)
            grid.add_row("", Text(figures.safe(reason, 600), style="dim"))
            parts.append(grid)
        return Group(*parts)

    def action_close(self) -> None:
        self.dismiss(None)


# (heading, [(term, definition)]). Drawn as two columns, so a definition that wraps hangs
# under its own first word at any width.
HELP: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Words",
        [
            ("frame", "one image: one Label Studio task."),
            (
                "episode",
                "one recorded robot run; its frames share a path, found by [episodes] pattern.",
            ),
            (
                "unmapped",
                "a frame whose path gives no episode ([episodes] field missing, or the pattern "
                "does not match): counted, shown with example paths, and left out of the rest.",
            ),
            ("done", "a frame a labeler submitted (reviewed) or cancelled (skipped)."),
            (
                "harvested",
                "an episode whose frames are all done: new ground truth, ready to train on.",
            ),
            (
                "corpus",
                "the episodes the current model was trained on: the configured starting count "
                "plus every episode an approval took in.",
            ),
            (
                "delta",
                "harvested episodes no approval has taken in yet: the new training material.",
            ),
            (
                "release",
                "a model version that pre-annotated frames (the prediction's model_version).",
            ),
            ("corrected", "a reviewed frame where the labeler changed the pre-annotation."),
            (
                "corrections per episode",
                "corrected frames of the harvested episodes divided by their number (per "
                "release in the quality panel, per task in the task table): how much labelers "
                "had to fix. Rising from one release to the next is a regression.",
            ),
            (
                "refused",
                "a file in the export folder that is not a usable JSON export (JSON_MIN, CSV, "
                "COCO, empty or cut short). It stays counted in the status bar until it is "
                "fixed, replaced or removed; press f to see each one and why.",
            ),
        ],
    ),
    (
        "The decision (top banner)",
        [
            ("READY", "every gate passes: a retrain is worth it. Press r to record an approval."),
            ("WAIT", "a gate fails; the banner says which and by how much."),
            (
                "REGRESSION",
                "the newest release pre-annotates worse than the one before (or a person said "
                "so): retrain now, whatever the cadence. Press a to acknowledge the alert.",
            ),
        ],
    ),
    (
        "The gates",
        [
            ("delta", "harvested episodes not yet in a training, against a share of the corpus."),
            (
                "spread",
                "the new episodes must not all come from one task (Gini and top share). With "
                "two tasks only the share test can fail; a few episodes over many tasks give a "
                "high Gini by construction.",
            ),
            ("eval", "the eval set must be the pinned one, so models are compared fairly."),
            (
                "regression",
                "corrections per episode, newest release against the previous one, with a "
                "one-sided Mann-Whitney test; below the minimum episodes it says "
                '"insufficient data", and with fewer than two releases "not applicable yet" '
                "(neither a pass nor a failure).",
            ),
        ],
    ),
    (
        "Keys",
        [
            ("r", "approve a retrain (records who and what; starts nothing)"),
            ("d", "decline a retrain: you looked, and decided not now (with your reason)"),
            ("a", "acknowledge the regression alert (says you saw it; the alert stays open)"),
            ("p", "pin the eval set as it is now"),
            ("x", "report a regression by hand (labelers say pre-annotations got worse)"),
            ("l", "the ledger: every recorded decision"),
            ("f", "the refused files and why"),
            (
                "u",
                "pull a snapshot from Label Studio now ([labelstudio] in the config; "
                "docs/sources.md)",
            ),
            ("?", "this help"),
            ("q", "quit"),
            ("ctrl+p", "every command"),
        ],
    ),
]
HELP_END = (
    "Nothing here starts a training.\nEvery decision lands in the ledger with the name typed."
)
TERM_WIDTH = 11  # "corrections" and "REGRESSION" fit; a longer term wraps within its column


def help_text() -> Group:
    parts: list[RenderableType] = []
    for heading, rows in HELP:
        parts.append(Text(heading, style="bold"))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=1)  # the indent under the heading
        grid.add_column(width=TERM_WIDTH, style="bold")
        grid.add_column(ratio=1)
        for term, definition in rows:
            grid.add_row("", Text(term), Text(definition))
        parts.extend([grid, Text("")])
    parts.append(Text(HELP_END))
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", "close", id="help.close"),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background; }
    HelpScreen #help { width: 96; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
        border-title-style: bold; border-subtitle-color: $text-muted; }
    HelpScreen VerticalScroll { height: auto; max-height: 100%; }
    """

    def compose(self) -> ComposeResult:
        # Opaque, not a dimmed overlay: compositing the whole dashboard behind it was most
        # of the cost of opening and closing it (bench/RESULTS.md).
        with Vertical(id="help") as box, VerticalScroll():
            box.border_title = "retrain-gate help"
            box.border_subtitle = "esc, ? or q closes"
            yield Static(help_text(), id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)

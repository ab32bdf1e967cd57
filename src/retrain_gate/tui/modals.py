"""The decision modals: approve, decline, acknowledge, pin eval, report a regression.

Each one shows what will be recorded, asks for a typed name (never prefilled: the ledger
attributes the decision to whoever typed it) and a note where one is required, and writes
through the same core function as the CLI, in a thread worker. A failed write keeps the form
and what was typed; Escape before confirming records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.console import Group, RenderableType
from rich.highlighter import Highlighter
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static
from textual.worker import Worker, WorkerState

from retrain_gate.decisions.actions import NotAllowed, Recorded, SliceRow, preview_lines
from retrain_gate.decisions.names import NOTE_MAX, validate_name, validate_note
from retrain_gate.errors import RetrainGateError
from retrain_gate.models import Report
from retrain_gate.render import gate_verdict
from retrain_gate.text import decision_reason, is_unsafe, plural, short_hash
from retrain_gate.tui import figures

DecisionKind = Literal["approve", "decline", "ack", "pin", "report"]


@dataclass(frozen=True)
class DecisionRequest:
    kind: DecisionKind
    by: str
    note: str
    override: bool = False


# The approval's request type, named for what it is.
ApprovalRequest = DecisionRequest


@dataclass(frozen=True)
class Decided:
    """What a modal returns once its decision is in the ledger."""

    request: DecisionRequest
    recorded: Recorded


Submit = Callable[[DecisionRequest], Recorded]
Preview = Callable[[], list[SliceRow]]  # what an approval now would approve (a thread calls it)

PREVIEW_ROWS = 200  # the manifest lists every episode; the form shows the first ones

HIDDEN_MARK = "\N{REPLACEMENT CHARACTER}"


class ShowHidden(Highlighter):
    """Draws each control or invisible formatting character of an Input (a pasted escape
    sequence, a bidi override) as a marked `\N{REPLACEMENT CHARACTER}` instead of sending it to
    the terminal. The value keeps what was typed; name and note validation then refuse it with
    a message that names the character."""

    def __call__(self, text: str | Text) -> Text:
        source = Text(text) if isinstance(text, str) else text
        plain = source.plain
        if not any(is_unsafe(char) for char in plain):
            return source
        out = source.blank_copy()
        for char in plain:
            if is_unsafe(char):
                out.append(HIDDEN_MARK, style="bold reverse red")
            else:
                out.append(char)
        return out

    def highlight(self, text: Text) -> None:  # everything happens in __call__
        return None


class DecisionModal(ModalScreen[Decided | None]):
    """Base: a name, a note, an explicit confirm. Subclasses say what is being decided."""

    kind: ClassVar[DecisionKind]
    heading: ClassVar[str]
    confirm_label: ClassVar[str]
    footnote: ClassVar[str] = ""
    lists_episodes: ClassVar[bool] = False  # shows what an approval now would approve

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "cancel", id="modal.cancel"),
        Binding("ctrl+s", "confirm", "confirm", id="modal.confirm", priority=True),
    ]

    DEFAULT_CSS = """
    DecisionModal { align: center middle; background: $background 60%; }
    DecisionModal #dialog {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    DecisionModal #title { text-style: bold; padding: 0 0 1 0; }
    DecisionModal #figures { height: auto; max-height: 50vh; }
    DecisionModal.-short #figures { max-height: 6; }
    DecisionModal.-short #title { padding: 0; }
    DecisionModal #intro, DecisionModal #below-intro { height: auto; }
    DecisionModal .field { height: 3; margin: 0; }
    DecisionModal .field Label { width: 11; padding: 1 0 0 0; }
    DecisionModal .field Input { width: 1fr; }
    DecisionModal #note-full { height: auto; max-height: 8; color: $text-muted; padding: 0 0 0 11; }
    DecisionModal #error { color: $error; text-style: bold; height: auto; }
    DecisionModal #done { height: auto; color: $success; }
    DecisionModal #foot { color: $text-muted; height: auto; }
    DecisionModal #buttons { height: auto; align-horizontal: right; }
    DecisionModal #buttons Button { margin-left: 2; }
    DecisionModal.-wait #dialog { border: thick $warning; }
    DecisionModal.-regression #dialog { border: thick $error; }
    """

    def __init__(self, report: Report, submit: Submit, preview: Preview | None = None) -> None:
        super().__init__()
        self.report = report
        self._submit = submit
        self._preview = preview
        self._busy = False
        self._decided: Decided | None = None
        # The field whose validation error is shown ("#name", "#note"), "any" for a refusal
        # of the whole request: fixing that field (or, for "any", editing) clears the error.
        self._error_field: str | None = None

    # ------------------------------------------------------------ what subclasses say

    def intro(self, report: Report) -> Text:
        raise NotImplementedError

    def below_intro(self, report: Report) -> RenderableType | None:
        """Figures drawn under the intro in columns (a Text cannot hang-indent)."""
        return None

    def note_required(self, report: Report) -> bool:
        return True

    def note_placeholder(self, report: Report) -> str:
        return "required: say why" if self.note_required(report) else "optional"

    def request(self, by: str, note: str) -> DecisionRequest:
        return DecisionRequest(self.kind, by, note)

    def done_text(self, decided: Decided) -> Text | None:
        """Text to show after success; None closes the modal at once."""
        return None

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text(self.heading), id="title")
            with VerticalScroll(id="figures"):
                yield Static(self.intro(self.report), id="intro")
                yield Static(self.below_intro(self.report) or "", id="below-intro")
            with Horizontal(classes="field"):
                yield Label("Your name")
                yield Input(
                    placeholder="who is deciding (required)", id="name", highlighter=ShowHidden()
                )
            with Horizontal(classes="field"):
                yield Label("Note")
                yield Input(
                    placeholder=self.note_placeholder(self.report),
                    id="note",
                    highlighter=ShowHidden(),
                )
            # A note can be far longer than the field is wide: all of it, wrapped, below.
            yield Static("", id="note-full")
            yield Static("", id="error")
            yield Static("", id="done")
            yield Static(Text(self.footnote), id="foot")
            with Horizontal(id="buttons"):
                yield Button("Cancel  esc", id="cancel")
                yield Button(f"{self.confirm_label}  ctrl+s", id="confirm", variant="primary")

    def on_mount(self) -> None:
        self._style_for(self.report)
        self.query_one("#done", Static).display = False
        self.query_one("#error", Static).display = False
        self.query_one("#note-full", Static).display = False
        self._show_below_intro(self.report)
        self.query_one("#name", Input).focus()
        self.load_preview()

    def _style_for(self, report: Report) -> None:
        self.set_class(report.decision == "WAIT", "-wait")
        self.set_class(report.decision == "REGRESSION", "-regression")

    def _show_below_intro(self, report: Report) -> None:
        below = self.below_intro(report)
        widget = self.query_one("#below-intro", Static)
        widget.display = below is not None
        widget.update(below or "")

    def update_report(self, report: Report) -> None:
        """New figures arrived while the modal was open: show what would now be recorded."""
        if self._decided is not None or self._busy:
            # While our own write is under way, the figures it produces must not replace the
            # ones the person confirmed: the modal would then read as if it had not happened.
            return
        self.report = report
        self._style_for(report)
        self.query_one("#intro", Static).update(self.intro(report))
        self._show_below_intro(report)
        self.query_one("#note", Input).placeholder = self.note_placeholder(report)
        self.load_preview()

    # ------------------------------------------------------------ actions

    def action_cancel(self) -> None:
        if self._busy:
            return  # the write is under way; its outcome is shown when it ends
        self.dismiss(self._decided)

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Button.Pressed, "#confirm")
    def _confirm_pressed(self) -> None:
        self.action_confirm()

    @on(Input.Submitted, "#name")
    def _name_entered(self) -> None:
        self.query_one("#note", Input).focus()

    @on(Input.Submitted, "#note")
    def _note_entered(self) -> None:
        # Enter moves to the button rather than confirming: confirming stays a deliberate act.
        self.query_one("#confirm", Button).focus()

    @on(Input.Changed, "#note")
    def _note_changed(self, event: Input.Changed) -> None:
        full = self.query_one("#note-full", Static)
        value = event.value
        # Shown once the note outgrows the field, so what is recorded is what was read.
        fits = len(value) < max(event.input.content_size.width - 1, 1)
        full.display = not fits
        if not fits:
            out = Text(figures.safe(value, NOTE_MAX))
            out.append(f"  ({len(value):,}/{NOTE_MAX:,} characters)", style="dim")
            full.update(out)

    @on(Input.Changed)
    def _clear_fixed_error(self, event: Input.Changed) -> None:
        field = f"#{event.input.id}"
        if self._error_field is None or self._busy:
            return
        fixed = self._error_field == field and self._field_error(field) is None
        if self._error_field == "any" or fixed:
            self._error("")

    def _field_error(self, field: str) -> str | None:
        """Why the field's value cannot be recorded, or None."""
        try:
            if field == "#name":
                validate_name(self.query_one("#name", Input).value)
            else:
                validate_note(self.query_one("#note", Input).value, self.note_required(self.report))
        except ValueError as exc:
            return str(exc) if field == "#name" else f"note: {exc}"
        return None

    def _error(self, message: str, field: str | None = None) -> None:
        error = self.query_one("#error", Static)
        error.update(Text(figures.safe(message, 600)))
        error.display = bool(message)
        self._error_field = field if message else None

    def action_confirm(self) -> None:
        if self._decided is not None:
            self.dismiss(self._decided)
            return
        if self._busy:
            return
        for field in ("#name", "#note"):
            problem = self._field_error(field)
            if problem is not None:
                self._error(problem, field)
                self.query_one(field, Input).focus()
                return
        by = validate_name(self.query_one("#name", Input).value)
        note = validate_note(self.query_one("#note", Input).value, self.note_required(self.report))
        self._error("")
        self._set_busy(True)
        self._record(self.request(by, note))

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        for widget_id in ("#confirm", "#cancel", "#name", "#note"):
            self.query_one(widget_id).disabled = busy
        if busy:
            self.query_one("#error", Static).display = True
            self.query_one("#error", Static).update(Text("recording…", style="bold"))

    @work(thread=True, exclusive=True, group="decision", exit_on_error=False)
    def _record(self, request: DecisionRequest) -> Decided:
        return Decided(request, self._submit(request))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "preview":
            if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, list):
                self.show_preview(event.worker.result)
            elif event.state == WorkerState.ERROR:
                self.show_preview(None, f"could not list them: {event.worker.error}")
            return
        if event.worker.group != "decision":
            return
        if event.state == WorkerState.SUCCESS:
            self._set_busy(False)
            decided = event.worker.result
            assert isinstance(decided, Decided)
            self._finish(decided)
        elif event.state == WorkerState.ERROR:
            self._set_busy(False)
            error = event.worker.error
            if isinstance(error, RetrainGateError):
                message = str(error)
            else:
                message = f"could not record it: {error!r}"
            # Refusals and the ledger's own errors already say that nothing was recorded.
            said = "nothing was recorded" in message.lower()
            kept = "your text is kept" if said else "nothing was recorded; your text is kept"
            self._error(f"{message} ({kept})", "any")
            # Back in a field, so what is typed next lands there: the name when it was the
            # person who was refused, the note otherwise.
            field = "#name" if isinstance(error, NotAllowed) else "#note"
            self.query_one(field, Input).focus()
        elif event.state == WorkerState.CANCELLED:
            self._set_busy(False)

    # ------------------------------------------------------------ the approval's episodes

    def load_preview(self) -> None:
        if self._preview is not None and self.lists_episodes:
            self._read_preview(self._preview)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def _read_preview(self, preview: Preview) -> list[SliceRow]:
        return preview()

    def show_preview(self, rows: list[SliceRow] | None, problem: str = "") -> None:
        """Subclasses that list what is decided on show it; others ignore it."""

    def _finish(self, decided: Decided) -> None:
        self._decided = decided
        text = self.done_text(decided)
        if text is None:
            self.dismiss(decided)
            return
        self._error("")
        done = self.query_one("#done", Static)
        done.update(text)
        done.display = True
        for widget_id in ("#name", "#note"):
            self.query_one(widget_id).disabled = True
        # Recorded is recorded: a "Cancel" beside it would read as an undo.
        self.query_one("#cancel").display = False
        confirm = self.query_one("#confirm", Button)
        confirm.label = "Close  enter"
        confirm.variant = "success"
        confirm.focus()


def _gate_lines(report: Report) -> Table:
    """Every gate, its verdict and its detail; a long detail wraps under its own first word."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=1)  # the indent
    grid.add_column(width=10)
    grid.add_column(width=7, no_wrap=True)
    grid.add_column(ratio=1)
    for gate in report.gates:
        verdict = gate_verdict(gate, report.regression)
        style = {True: "green", False: "bold red", None: "yellow"}[gate.passed]
        detail = Text(figures.safe(gate.detail, 200))  # Text: a str cell would be markup
        grid.add_row("", Text(gate.name), Text(verdict, style=style), detail)
    return grid


def _overriding(report: Report) -> bool:
    """An approval now overrides the gates: against WAIT, or with nothing new to train on."""
    return not report.ready or report.delta_episodes == 0


class ApproveModal(DecisionModal):
    kind = "approve"
    heading = "Approve a retrain"
    confirm_label = "Approve"
    footnote = "This starts nothing. It records who approved, and what."
    lists_episodes = True

    DEFAULT_CSS = """
    ApproveModal #episodes { height: auto; }
    """

    def on_mount(self) -> None:
        # Textual runs DecisionModal.on_mount after this one (it walks the MRO), and that
        # starts the listing: the place for it must exist by then.
        episodes = Static("", id="episodes")
        episodes.display = self._preview is not None
        self.query_one("#figures", VerticalScroll).mount(episodes)
        if self._preview is not None:
            episodes.update(Text("listing the episodes…", style="dim"))

    def _confirming(self, report: Report) -> bool:
        return report.pending_approval is not None and _overriding(report)

    def note_required(self, report: Report) -> bool:
        return _overriding(report) and not self._confirming(report)

    def note_placeholder(self, report: Report) -> str:
        if self._confirming(report):
            return "optional: the request has its reason"
        if not report.ready:
            return "required: why approve against the gates"
        if report.delta_episodes == 0:
            return "required: why retrain with nothing new"
        return "optional"

    def request(self, by: str, note: str) -> DecisionRequest:
        return DecisionRequest("approve", by, note, override=_overriding(self.report))

    def intro(self, report: Report) -> Text:
        out = Text()
        reason = figures.safe(decision_reason(report.decision, report.reason), 2000)
        pending = report.pending_approval
        if pending is not None and self._confirming(report):
            out.append(
                f"Confirm the approval requested by {figures.safe(pending.by, 80)} at "
                f"{figures.when(pending.at)}: {figures.safe(pending.note, 2000)}\n",
                style="bold yellow",
            )
            out.append("A second, different approver confirms it (d declines it).\n")
        elif not report.ready:
            out.append(
                f"The gates say WAIT: {reason}. Approving anyway is an override and needs "
                "a note.\n",
                style="bold yellow",
            )
        elif report.delta_episodes == 0:
            out.append(f"Now: {report.decision} · {reason}\n", style="bold red")
            out.append(
                "Nothing new since the last approval: approving retrains on the same data, "
                "an override that needs a note.\n",
                style="bold yellow",
            )
        elif report.decision == "REGRESSION":
            out.append(f"Now: REGRESSION · {reason}\n", style="bold red")
            out.append("Approving ends the alert.\n")
        else:
            out.append("Now: READY · every gate passes\n", style="bold green")
        corpus, delta = report.corpus_episodes, report.delta_episodes
        out.append("Recorded with your name: ")
        out.append(
            f"delta {delta:,} episodes → corpus {corpus:,} → {corpus + delta:,}, "
            f"eval {short_hash(report.eval.current_hash)} ({report.eval.status}), "
            "the decision and every gate and figure as shown:"
        )
        return out

    def below_intro(self, report: Report) -> RenderableType | None:
        delta = report.delta_episodes
        slice_line = (
            f"Training slice: {plural(delta, 'episode')} → a manifest CSV in the state folder"
        )
        return Group(_gate_lines(report), Text(slice_line))

    def show_preview(self, rows: list[SliceRow] | None, problem: str = "") -> None:
        episodes = self.query_one("#episodes", Static)
        if rows is None:
            episodes.update(Text(problem, style="yellow"))
            return
        if not rows:
            episodes.update(Text("No episode would be approved: the slice would be empty."))
            return
        out = Text(f"The {plural(len(rows), 'episode')} it approves:\n", style="bold")
        out.append("\n".join(figures.safe(line, 300) for line in preview_lines(rows, PREVIEW_ROWS)))
        episodes.update(out)

    def done_text(self, decided: Decided) -> Text | None:
        recorded = decided.recorded
        out = Text(f"Recorded as ledger entry #{recorded.entry.seq}. ", style="bold")
        out.append(figures.safe(recorded.message, 300))
        if recorded.manifest is not None:
            out.append("\nTraining slice: ")
            out.append(figures.safe(recorded.manifest, 300), style="bold")
        return out


class DeclineModal(DecisionModal):
    kind = "decline"
    heading = "Decline a retrain"
    confirm_label = "Decline"
    footnote = (
        "The decision stays what the data say. The dashboard shows who declined, and why, "
        "until the delta or the alert changes."
    )

    def note_placeholder(self, report: Report) -> str:
        return "required: why not now"

    def intro(self, report: Report) -> Text:
        out = Text()
        pending = report.pending_approval
        if pending is not None:
            out.append(
                f"Refuse the approval requested by {figures.safe(pending.by, 80)} at "
                f"{figures.when(pending.at)}: {figures.safe(pending.note, 2000)}\n",
                style="bold yellow",
            )
        why = decision_reason(report.decision, report.reason)
        out.append(f"Now: {report.decision} · {figures.safe(why, 2000)}\n", style="bold")
        out.append(
            f"Declining records that you looked at it ({report.delta_episodes:,} new episodes) "
            "and decided not to retrain now, with your reason. Nothing joins the corpus."
        )
        return out


class AckModal(DecisionModal):
    kind = "ack"
    heading = "Acknowledge the regression alert"
    confirm_label = "Acknowledge"
    footnote = (
        "Acknowledging records that you saw it. The alert stays open until a retrain is "
        "approved, or until the data no longer show it (if it comes back, ack it again)."
    )

    def note_required(self, report: Report) -> bool:
        return False

    def intro(self, report: Report) -> Text:
        out = Text("Alert: ", style="bold red")
        out.append(figures.safe(decision_reason(report.decision, report.reason), 300))
        out.append("\n")
        out.append_text(figures.regression_state(report))
        return out


class PinModal(DecisionModal):
    kind = "pin"
    heading = "Pin the eval set"
    confirm_label = "Pin"
    footnote = "From now on models are compared on the eval set as it is now."

    def intro(self, report: Report) -> Text:
        ev = report.eval
        out = Text(f"Eval set: {ev.status}\n", style="bold")
        out.append(f"  pinned   {short_hash(ev.pinned_hash)}")
        if ev.pinned_by:
            out.append(f"  by {figures.safe(ev.pinned_by, 60)}, {figures.when(ev.pinned_at)}")
        out.append(f"\n  current  {short_hash(ev.current_hash)}\n")
        if ev.status == "pinned":
            out.append("It is already pinned at this hash; pinning again only records it.")
        else:
            out.append("Pinning records the current hash as the one to compare models on.")
        return out


class ReportModal(DecisionModal):
    kind = "report"
    heading = "Report a regression"
    confirm_label = "Report"
    footnote = "The alert holds until a retrain is approved, whatever the statistics say."

    def intro(self, report: Report) -> Text:
        out = Text(
            "Labelers say this release's pre-annotations are worse. Reporting raises a "
            "regression alert: the decision becomes REGRESSION until a retrain is approved.\n"
        )
        out.append("What the statistics say now: ", style="dim")
        out.append_text(figures.regression_state(report))
        return out

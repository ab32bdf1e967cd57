"""The dashboard's panels as `rich.text.Text`, built from a `Report` (and an `Outlook`).

Every figure is the core's; this module only lays them out. Strings that come from exports,
file names or typed names are appended as plain `Text` (never parsed as markup) after going
through `printable`, so a task called `[red]x` or one holding escape sequences shows literally.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.text import Text

from retrain_gate.config import Config
from retrain_gate.evalset import EMPTY_HASH
from retrain_gate.history import Outlook, describe_days, parse_stamp
from retrain_gate.models import Report
from retrain_gate.render import mapping_findings, release_unknown_text
from retrain_gate.stats import as_fraction
from retrain_gate.text import (
    NOT_APPLICABLE,
    article,
    decision_reason,
    percent,
    percent_shares,
    plural,
    printable,
    short_hash,
)

FULL = "█"
EMPTY = "░"
SPARKS = "▁▂▃▄▅▆▇█"
OK = "✓"
NO = "✗"

MAX_TASK_ROWS = 8
MAX_RELEASE_ROWS = 5


def safe(text: object, limit: int = 200) -> str:
    """Untrusted text made visible (escapes shown) and bounded, for use in a plain `Text`."""
    return printable(text, limit=limit)


def clip(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def bar(fraction: float, width: int) -> str:
    width = max(width, 1)
    fraction = min(max(fraction, 0.0), 1.0)
    filled = round(fraction * width)
    # A small but nonzero share must not look like nothing at all.
    if fraction > 0 and filled == 0:
        filled = 1
    return FULL * filled + EMPTY * (width - filled)


def sparkline(values: Sequence[int]) -> str:
    if not values:
        return ""
    top = max(values)
    if top <= 0:
        return SPARKS[0] * len(values)
    return "".join(SPARKS[min(len(SPARKS) - 1, round(v / top * (len(SPARKS) - 1)))] for v in values)


def when(iso: str | None) -> str:
    """A ledger time (ISO UTC) in local time, to the minute."""
    parsed = parse_stamp(iso)
    if parsed is None:
        return safe(iso or "?", 40)
    return parsed.astimezone().strftime("%Y-%m-%d %H:%M")


def export_folder(config: Config, *, short: bool = False) -> str:
    """The export folder as the person wrote it: a bucket by its URL (the mirror under
    state_dir is ours, not theirs); `short`: a folder's name without its path."""
    paths = config.paths
    if paths.bucket is not None:
        return paths.export_source
    return paths.export_dir.name if short else relative_path(paths.export_dir, config)


def relative_path(path: Path, config: Config) -> str:
    """Paths as the person wrote them in the config (relative to it) when possible."""
    base = config.source.parent if config.source is not None else None
    if base is not None:
        try:
            return str(path.relative_to(base.resolve()))
        except ValueError:
            pass
    return str(path)


# ---------------------------------------------------------------- decision banner


def banner(report: Report | None) -> tuple[str, Text]:
    """(css class, text) of the decision banner."""
    if report is None:
        return "-pending", Text("  …  reading the exports and the ledger", style="bold")
    decision = report.decision
    text = Text()
    text.append(f" {decision} ", style="bold reverse")
    text.append("  ")
    text.append(safe(decision_reason(decision, report.reason), 300), style="bold")
    text.append("\n")
    regression = report.regression
    if decision == "REGRESSION":
        if regression.acknowledged_by:
            text.append(
                f"acknowledged by {safe(regression.acknowledged_by, 80)} "
                f"at {when(regression.acknowledged_at)}"
            )
            text.append(" · it stays until a retrain (r)")
        else:
            text.append("NOT ACKNOWLEDGED", style="bold reverse")
            text.append(" press a to acknowledge · r to approve a retrain")
    elif decision == "READY":
        text.append("every gate passes · r records an approval (it starts nothing)")
    else:
        failing = [g.name for g in report.gates if not g.passed and g.name != "regression"]
        text.append("waiting on: " + ", ".join(failing) if failing else "waiting")
        text.append(" · r approves anyway, with a note")
    # Offered where the line has room for it (an acknowledged alert's line has not, at 80
    # columns); help and the command palette always list it.
    if report.ready and report.declined is None and not regression.acknowledged_by:
        text.append(" · d declines")
    text.append_text(decided(report))
    return f"-{decision.lower()}", text


def decided(report: Report) -> Text:
    """What people said of these figures: a decline, an approval awaiting a second person."""
    text = Text()
    if report.declined is not None:
        d = report.declined
        text.append("\n")
        text.append(f"declined by {safe(d.by, 80)} at {when(d.at)}: ", style="bold")
        text.append(safe(d.note, 300))
    if report.pending_approval is not None:
        r = report.pending_approval
        text.append("\n")
        text.append(f"approval requested by {safe(r.by, 80)} at {when(r.at)}: ", style="bold")
        text.append(safe(r.note, 300))
        text.append(" · waiting for a second approver: r confirms, d declines")
    return text


# ---------------------------------------------------------------- delta


def delta_panel(report: Report, outlook: Outlook | None, width: int, config: Config) -> Text:
    delta, needed = report.delta_episodes, report.needed_episodes
    if delta < needed:
        label = f"  {delta:,} of {plural(needed, 'episode')}"
    else:
        label = f"  {plural(delta, 'episode')}, {needed:,} needed"
    bar_width = max(width - len(label), 8)
    out = Text()
    fraction = delta / needed if needed else 1.0
    out.append(bar(fraction, bar_width), style="green" if delta >= needed else "yellow")
    out.append(label, style="bold")
    out.append("\n")
    if report.delta_fraction is None:
        out.append(
            f"no corpus yet: a first training needs {needed:,} harvested episodes",
        )
    else:
        corpus = report.corpus_episodes
        # The banner says the configured share; needed is that share rounded up to whole
        # episodes, which can be a little more (10% of 107 is 11 episodes, 10.3%): say why.
        need = percent(config.gates.min_delta_fraction)
        if needed > as_fraction(config.gates.min_delta_fraction) * corpus:
            need += ", rounded up"
        out.append(
            f"{percent(report.delta_fraction)} of {article(corpus)} {corpus:,}-episode corpus"
            f" · need {need}"
        )
    mark = OK if delta >= needed else NO
    out.append(f"  {mark}", style="green" if delta >= needed else "yellow")
    out.append("\n")
    if outlook is None or outlook.as_of is None:
        out.append("history: no labeling activity yet", style="dim")
        out.append("\n\n")
    else:
        spark = sparkline(outlook.daily_delta)
        out.append(spark, style="cyan")
        out.append(f"  delta over the {len(outlook.daily_delta)} days to ", style="dim")
        out.append(outlook.as_of.astimezone(UTC).strftime("%b %d"), style="dim")
        out.append("\n")
        out.append(_forecast(report, outlook))
        out.append("\n")
    e, f = report.episodes, report.frames
    line = f"{e.harvested:,} of {plural(e.total, 'episode')} harvested · {plural(f.total, 'frame')}"
    out.append(clip(line, max(width, 20)), style="dim")
    if f.unmapped:
        out.append("\n")
        out.append_text(unmapped_lines(report, config, max(width, 20)))
    findings = mapping_findings(report, config)
    if findings:
        # The advice is one long sentence each: `check` prints it; the panel names the finding.
        out.append("\n")
        out.append(
            clip("[episodes] pattern looks wrong (`check` says why):", width), style="yellow"
        )
    for what, _ in findings:
        lines = textwrap.wrap(
            what,
            max(width, 20),
            initial_indent="  ",
            subsequent_indent="    ",
            max_lines=2,
            placeholder=" …",
        )
        out.append("\n")
        out.append("\n".join(lines), style="yellow")
    return out


def unmapped_lines(report: Report, config: Config, width: int) -> Text:
    """§2: unmapped frames count nowhere else, so say how many, which key to fix, and show
    paths the pattern missed (a count alone does not say what is wrong)."""
    unmapped, count = report.unmapped, report.frames.unmapped
    field = safe(config.episodes.field, 40)
    every = unmapped.every_frame
    out = Text()
    frames = "every frame is unmapped" if every else f"{plural(count, 'frame')} unmapped"
    if unmapped.key == "field":
        why = f"no task.data['{field}']: fix [episodes] field"
    else:
        why = "fix [episodes] pattern" if every else "[episodes] pattern does not match"
    out.append(clip(f"{frames}: {why}", width), style="bold red" if every else "yellow")
    for path in unmapped.examples[:2]:
        out.append("\n")
        out.append(clip(f"  e.g. {safe(path, 200)}", width), style="dim")
    return out


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%b %d")


def _forecast(report: Report, outlook: Outlook) -> str:
    """Counted from now (history.py): a date, and when labeling stopped if it did."""
    rate = outlook.rate_per_day
    if report.delta_episodes >= report.needed_episodes:
        return "enough new episodes for a retrain"
    stopped = outlook.as_of if outlook.as_of is not None and outlook.idle_days >= 1 else None
    if rate is None or rate <= 0:
        if stopped is not None:
            return f"nothing labeled since {_day(stopped)}: no forecast"
        return f"no episodes harvested in the last {outlook.rate_days:.0f} days: no forecast"
    per_day = f"{rate:.1f}" if rate < 10 else f"{rate:.0f}"
    if stopped is not None:
        head = f"nothing labeled since {_day(stopped)}; at ~{per_day}/day"
    else:
        head = f"at ~{per_day} episodes/day"
    if outlook.ready_on is not None:
        return f"{head}: enough around {_day(outlook.ready_on)}"
    if outlook.days_to_ready is not None:
        return f"{head}: enough in {describe_days(outlook.days_to_ready)}"
    return head


# ---------------------------------------------------------------- spread


def _task_shares(counts: Sequence[int], share_max: float, share_ok: bool) -> list[str]:
    """The tasks' shares of the delta (largest count first) as shown: whole percents that add
    up to 100%, or with as many decimals as it takes for the largest to read on the side of
    `[gates] max_task_share` that the gate put it (80.4% against 80%, not 80%). The gate
    itself compares the exact share; this is only what is written."""
    limit = as_fraction(share_max) * 100
    shares: list[tuple[int, str]] = []
    for digits in range(4):
        shares = percent_shares(counts, digits)
        if not shares or (shares[0][0] <= limit * 10**digits) == share_ok:
            break
    return [text for _, text in shares]


def coverage_panel(report: Report, config: Config, width: int) -> Text:
    out = Text()
    counts = sorted(report.task_counts.items(), key=lambda kv: (-kv[1], kv[0]))
    delta = report.delta_episodes
    if not counts:
        out.append("no tasks with work flowing yet", style="dim")
        out.append("\n")
    gini_max, share_max = config.gates.max_task_gini, config.gates.max_task_share
    share_ok = report.top_task_share <= share_max
    shares = _task_shares([count for _, count in counts], share_max, share_ok)
    share_width = max([4, *(len(text) for text in shares)])
    name_width = min(max((len(safe(name, 40)) for name, _ in counts), default=8), 22)
    tail = 7 + share_width  # "  1,234 100%"
    bar_width = max(width - name_width - tail - 1, 4)
    top = report.top_task
    # The per-task counts add up to the delta; the bars and the figures share the sum.
    total = sum(count for _, count in counts)
    for (name, count), share_text in zip(counts[:MAX_TASK_ROWS], shares, strict=False):
        share = count / total if total else 0.0
        shown = clip(safe(name, 40), name_width).ljust(name_width)
        out.append(shown, style="bold" if name == top and count else "")
        out.append(" ")
        out.append(bar(share, bar_width), style="magenta")
        out.append(f" {count:>5,} {share_text:>{share_width}}")
        out.append("\n")
    if len(counts) > MAX_TASK_ROWS:
        rest = counts[MAX_TASK_ROWS:]
        out.append(
            f"+{len(rest)} more {'task' if len(rest) == 1 else 'tasks'} with "
            f"{plural(sum(c for _, c in rest), 'episode')}\n",
            style="dim",
        )
    gini_ok = report.task_gini <= gini_max
    out.append(f"Gini {report.task_gini:.2f} {'≤' if gini_ok else '>'} {gini_max:.2f}")
    out.append(f" {OK if gini_ok else NO}", style="green" if gini_ok else "red")
    # The top task's row and this line show the same figure.
    top_text = shares[0] if shares else percent(report.top_task_share, 0, up=True)
    out.append(f"   top share {top_text} {'≤' if share_ok else '>'} ")
    out.append(f"{percent(share_max)}")
    out.append(f" {OK if share_ok else NO}", style="green" if share_ok else "red")
    gate = next((g for g in report.gates if g.name == "spread"), None)
    if gate is not None:
        out.append("\n")
        verdict = "spread gate passes" if gate.passed else "spread gate fails"
        out.append(verdict, style="green" if gate.passed else "bold red")
        tasks = len(report.spread_tasks) or len(counts)
        if tasks < 2 and gate.detail:
            out.append(": " + safe(gate.detail, 300), style="dim")
        elif not gini_ok and delta < 2 * tasks:
            # §5: a few episodes over many tasks give a high Gini by construction.
            out.append(f": {plural(delta, 'episode')} over {tasks} tasks is uneven by construction")
    return out


# ---------------------------------------------------------------- per-task table


def tasks_table(report: Report, width: int) -> Text:
    """Per robot task: harvested of all its episodes, those in progress, those in the delta,
    and corrections per harvested episode (how much labelers fix the pre-annotations)."""
    out = Text()
    tasks = report.tasks
    if not tasks:
        out.append("no episodes yet", style="dim")
        return out
    name_width = min(max(max(len(safe(t.task_subdir, 40)) for t in tasks), 4), 22)
    # Narrow screens drop the long header words before the figures.
    wide = width >= name_width + 52
    heads = ("harvested", "in progress", "in delta", "corrections/episode" if wide else "corr/ep")
    widths = (11, 11, 8, 19 if wide else 7)
    out.append("task".ljust(name_width), style="bold")
    for head, w in zip(heads, widths, strict=True):
        out.append(" " + head.rjust(w), style="bold")
    for row in tasks[:MAX_TASK_ROWS]:
        out.append("\n")
        out.append(clip(safe(row.task_subdir, 40), name_width).ljust(name_width))
        cells = (
            f"{row.harvested:,} of {row.episodes:,}",
            f"{row.in_progress:,}",
            f"{row.delta:,}",
            f"{row.cpe:.2f}" if row.cpe is not None else "—",
        )
        for cell, w in zip(cells, widths, strict=True):
            out.append(" " + cell.rjust(w))
    if len(tasks) > MAX_TASK_ROWS:
        rest = tasks[MAX_TASK_ROWS:]
        out.append(
            f"\n+{len(rest)} more tasks with {plural(sum(t.episodes for t in rest), 'episode')}"
        )
    return out


# ---------------------------------------------------------------- eval pin


def eval_panel(report: Report, config: Config, width: int) -> Text:
    ev = report.eval
    out = Text()
    good = ev.status == "pinned"
    out.append(f"{OK if good else NO} {ev.status}", style="bold green" if good else "bold red")
    if ev.status == "missing":
        out.append("  the eval set is not at ")
        out.append(safe(relative_path(config.paths.eval_set, config), 120))
        out.append("\n")
        out.append("the eval gate fails until it is back", style="dim")
        return out
    pad = " " * (len(ev.status) + 2)
    if ev.pinned_hash is not None:
        head = f"  {'' if good else 'pinned '}{short_hash(ev.pinned_hash)}"
        out.append(head)
        if ev.pinned_by:
            name, at = safe(ev.pinned_by, 60), when(ev.pinned_at)
            if len(pad) + len(head) + len(f"  by {name}, {at}") <= width:
                out.append(f"  by {name}, {at}")
            else:  # under the hash, the time kept whole: wrapped, it fell to column 0
                room = max(width - len(pad) - len(f"  by , {at}"), 8)
                out.append(f"\n{pad}  by {clip(name, room)}, {at}")
        out.append(f"\n{pad}")
    out.append("  current ")
    out.append(short_hash(ev.current_hash), style="" if good else "bold red")
    if good:
        out.append(" (the same)", style="dim")
    out.append("\n")
    empty = ev.current_hash == EMPTY_HASH
    if ev.status == "drifted" and empty:
        out.append("empty now, pinned with files: restore them, or fill it and pin it with p")
    elif ev.status == "drifted":
        out.append("the eval set changed since it was pinned: check it, then pin it with p")
    elif ev.status == "unpinned" and empty:
        out.append("empty: put the eval files in it, then pin it with p")
    elif ev.status == "unpinned":
        out.append("never pinned: pin it with p (or an approval pins it)")
    else:
        out.append("models are compared on the same eval set", style="dim")
    return out


# ---------------------------------------------------------------- regression


def regression_panel(report: Report, width: int) -> Text:
    out = Text()
    releases = report.releases[-MAX_RELEASE_ROWS:]
    if len(report.releases) > MAX_RELEASE_ROWS:
        out.append(f"{len(report.releases) - MAX_RELEASE_ROWS} older releases not shown\n")
    reg = report.regression
    top = max((r.cpe or 0.0 for r in releases), default=0.0)
    name_width = min(max((len(safe(r.model_version, 40)) for r in releases), default=8), 20)
    tail = 22  # "  7.9  15 episodes +165%"
    bar_width = max(width - name_width - tail - 1, 4)
    previous_cpe: float | None = None
    for release in releases:
        name = clip(safe(release.model_version, 40), name_width).ljust(name_width)
        is_current = reg.current is not None and release.model_version == reg.current
        out.append(name, style="bold" if is_current else "")
        out.append(" ")
        cpe = release.cpe
        style = "red" if reg.active and is_current else "blue"
        out.append(bar((cpe or 0.0) / top if top else 0.0, bar_width), style=style)
        out.append(f" {cpe:>5.2f}" if cpe is not None else "     —")
        out.append(f" {release.episodes:>4,} ep", style="dim")
        if cpe is not None and previous_cpe:
            change = (cpe - previous_cpe) / previous_cpe
            out.append(f" {change * 100:+.0f}%", style="red" if change > 0 else "green")
        previous_cpe = cpe
        out.append("\n")
    if not releases:
        out.append("no pre-annotated episodes harvested yet\n", style="dim")
    out.append("corrections per harvested episode, per release\n", style="dim")
    unknown = release_unknown_text(report)
    if unknown:
        out.append(unknown + "\n", style="yellow")
    out.append_text(regression_state(report))
    return out


def regression_state(report: Report) -> Text:
    reg = report.regression
    out = Text()
    p = f"p = {reg.p_value:.3g}" if reg.p_value is not None else None
    if reg.active:
        if reg.source == "report":
            out.append("▲ REPORTED", style="bold reverse red")
            out.append(f" by {safe(reg.reported_by or '?', 60)}")
            if reg.report_note:
                out.append(": ")
                out.append(safe(reg.report_note, 200))
        else:
            out.append("▲ REGRESSION", style="bold reverse red")
            if p:
                out.append(f"  {p}")
        out.append("\n")
        if reg.acknowledged_by:
            out.append(
                f"acknowledged by {safe(reg.acknowledged_by, 60)} at {when(reg.acknowledged_at)}",
                style="yellow",
            )
        else:
            out.append("not acknowledged: press a", style="bold red")
        return out
    if reg.state == "insufficient_data":
        out.append("insufficient data", style="bold yellow")
        detail = reg.detail.removeprefix("insufficient data").removeprefix(": ")
        if detail:
            out.append(": " + safe(detail, 300), style="yellow")
        out.append("\nnot judged: this is not a pass", style="dim")
        return out
    if reg.state == "fewer_than_two_releases":
        # Not a pass: the gate cannot judge until a second release pre-annotates.
        out.append(NOT_APPLICABLE, style="bold")
        out.append(": " + safe(reg.detail.removeprefix(NOT_APPLICABLE + ": "), 300), style="dim")
        return out
    if reg.state == "regression":
        # The statistics still say worse, but an approval ended this alert (§7).
        out.append(f"{OK} alert ended by the approval", style="green")
        out.append(
            f"\n{safe(reg.current or '?', 60)} still reads worse than "
            f"{safe(reg.previous or '?', 60)} ({p}); a retrain was approved for it",
            style="dim",
        )
        return out
    out.append(f"{OK} no regression", style="green")
    if p:
        out.append(f"  {p}", style="dim")
    if reg.detail:
        out.append("\n" + safe(reg.detail, 300), style="dim")
    return out


# ---------------------------------------------------------------- cost


def cost_panel(report: Report, outlook: Outlook | None, config: Config) -> Text:
    out = Text()
    backlog = report.backlog
    if backlog is None or backlog.release is None:
        out.append("no pre-annotated backlog: a new model would invalidate nothing open")
    elif backlog.episodes == 0:
        out.append("nothing pre-annotated by ")
        out.append(safe(backlog.release, 60), style="bold")
        out.append(" is still open: a new model would invalidate no work")
    else:
        out.append(
            f"{plural(backlog.episodes, 'episode')} ({plural(backlog.frames, 'open frame')})",
            style="bold",
        )
        out.append(" pre-annotated by ")
        out.append(safe(backlog.release, 60), style="bold")
        out.append(" and not yet harvested would need new pre-annotations")
    out.append("\n")
    cost = config.cost
    if cost.gpu_hours_per_cycle is None:
        out.append("set [cost] gpu_hours_per_cycle in the config to see what a cycle costs")
        out.append(_avoided(report, outlook, None))
        return out
    hours = cost.gpu_hours_per_cycle
    out.append(f"~{hours:g} GPU h")
    money: float | None = None
    if cost.cost_per_gpu_hour is not None:
        money = hours * cost.cost_per_gpu_hour
        out.append(f" · ~{safe(cost.currency, 8)}{money:,.0f} a cycle")
    else:
        out.append(" a cycle")
    out.append(_avoided(report, outlook, money, currency=safe(cost.currency, 8)))
    return out


def _avoided(
    report: Report, outlook: Outlook | None, money: float | None, currency: str = ""
) -> str:
    if outlook is None or outlook.exports_since_approval is None:
        return ""
    n = outlook.exports_since_approval
    files = outlook.storage_files_since_approval
    since = "since the last approval" if report.last_approval_at else "so far"
    if files and not n:
        # Label Studio writes a storage file on every save: nobody retrains after each one.
        return f" · {plural(files, 'annotation file')} saved {since}"
    text = f" · {plural(n, 'export')} {since}"
    if n and money is not None:
        text += f": retraining after each would have cost ~{currency}{n * money:,.0f}"
    if files:
        text += f" (and {plural(files, 'annotation file')} saved)"
    return text

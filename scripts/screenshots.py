#!/usr/bin/env python3
"""Regenerate the SVG screenshots in docs/screenshots/ from the app itself, on the demo.

    python scripts/screenshots.py [--config config.toml] [--out docs/screenshots]

The demo's exports are ingested into a temporary state folder (the repository's own
`.retrain-gate` is not touched), then the dashboard is drawn without a live service and fed
the real figures, the way the snapshot tests feed theirs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from retrain_gate.config import Config, load_config
from retrain_gate.decisions.actions import acknowledge
from retrain_gate.engine import Engine
from retrain_gate.history import engine_outlook
from retrain_gate.models import Report
from retrain_gate.tui.app import make_app
from retrain_gate.tui.messages import Activity, OutlookReady, ReportReady, WatchState
from retrain_gate.tui.modals import ApproveModal

ROOT = Path(__file__).resolve().parent.parent


def _never(request: object) -> object:
    raise RuntimeError("screenshots record nothing")


async def shoot(
    config: Config,
    engine: Engine,
    report: Report,
    lines: list[tuple[str, str]],
    out: Path,
    size: tuple[int, int],
    *,
    modal: bool = False,
) -> None:
    app = make_app(config, live=False)
    async with app.run_test(size=size) as pilot:
        app.post_message(WatchState("live", "", 0.0))
        for text, level in lines:
            app.post_message(
                Activity(text, app.clock(), level=level, ingested=text.startswith("ingested"))
            )
        app.post_message(ReportReady(report))
        app.post_message(OutlookReady(engine_outlook(engine, report)))
        await pilot.pause()
        if modal:
            app.push_screen(ApproveModal(report, _never))  # type: ignore[arg-type]
            await pilot.pause()
        await pilot.pause()
        app.save_screenshot(filename=out.name, path=str(out.parent))
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config.toml")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    if not any(config.paths.export_dir.glob("*.json")):
        print(f"no exports in {config.paths.export_dir}; generate the demo first", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="retrain-gate-shots-") as tmp:
        paths = config.paths.model_copy(update={"state_dir": Path(tmp)})
        engine = Engine(config.model_copy(update={"paths": paths}))
        results, report = engine.refresh()
        lines = [(r.message, "warning" if r.outcome == "refused" else "info") for r in results]
        await shoot(config, engine, report, lines, args.out / "dashboard-120x40.svg", (120, 40))
        await shoot(config, engine, report, lines, args.out / "dashboard-80x24.svg", (80, 24))
        await shoot(
            config, engine, report, lines, args.out / "approve-120x40.svg", (120, 40), modal=True
        )
        if report.regression.active:
            recorded = acknowledge(engine, by="Kim", note="looking into it")
            lines.append((recorded.message, "info"))
            await shoot(
                config,
                engine,
                recorded.report,
                lines,
                args.out / "acknowledged-120x40.svg",
                (120, 40),
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))

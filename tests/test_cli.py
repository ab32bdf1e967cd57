"""The real `retrain-gate` command, run as a subprocess on small hand-made folders."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.lsbuild import ann, kp, pred, task, write_export
from tests.waiting import check_json
from tests.waiting import run_cli as run


def episode_tasks(
    task_subdir: str, episode: str, first_id: int, n: int = 2
) -> list[dict[str, Any]]:
    """n reviewed frames of one episode, pre-annotated by m1 and accepted unchanged."""
    return [
        task(
            first_id + i,
            f"/data/local-files/?d=eps/{task_subdir}/{episode}/f{i}.jpg",
            predictions=[pred(first_id + i, [kp(10, 10)], version="m1")],
            annotations=[ann(first_id + i, [kp(10, 10, origin="prediction")], parent=first_id + i)],
        )
        for i in range(n)
    ]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """corpus 30 -> needs ceil(0.10 * 30) = 3 new episodes; 3 tasks with one episode each."""
    tasks = [
        *episode_tasks("pick", "e1", 1),
        *episode_tasks("stack", "e1", 11),
        *episode_tasks("pour", "e1", 21),
    ]
    write_export(tmp_path / "exports", "project-1-at-2026-11-20.json", tasks, mtime=1_000)
    (tmp_path / "eval.txt").write_text("eval v1\n", encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        '[paths]\nexport_dir = "exports"\neval_set = "eval.txt"\nstate_dir = "state"\n'
        "[gates]\ninitial_corpus_episodes = 30\n",
        encoding="utf-8",
    )
    return tmp_path


def test_init_writes_a_complete_config_and_refuses_to_overwrite(tmp_path: Path) -> None:
    assert run("init", cwd=tmp_path).returncode == 0
    text = (tmp_path / "config.toml").read_text(encoding="utf-8")
    for key in ("export_dir", "pattern", "min_delta_fraction", "alpha", "tolerance"):
        assert key in text
    again = run("init", cwd=tmp_path)
    assert again.returncode == 2
    assert "already exists" in again.stderr and "Traceback" not in again.stderr


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ("[gates]\nmin_delta_fraction = 1.5\n", "gates.min_delta_fraction"),
        ("[gates]\nmin_delta_fraction = 0\n", "gates.min_delta_fraction"),
        ("[gates]\nmax_tasks_share = 0.5\n", "unknown key 'max_tasks_share' in [gates]"),
        ("[episodes]\npattern = '(?P<episode>x)'\n", "episodes.pattern"),
        ("[regression]\nmin_episodes = 'ten'\n", "regression.min_episodes"),
        # strict types: a quoted number or a word for a flag is refused, not coerced
        ('[gates]\ninitial_corpus_episodes = "200"\n', "without quotes"),
        ('[watch]\npolling = "yes"\n', "watch.polling"),
        ("[regression]\nmin_episodes = 10.0\n", "regression.min_episodes"),
        ("[paths\n", "not valid TOML"),
        # patterns polars' linear-time engine cannot run: Python's `re` could take minutes
        (
            "[episodes]\npattern = '(?P<task_subdir>[^/]+)/(?=ep)(?P<episode>[^/]+)/'\n",
            "'episodes.pattern' cannot be used: look-around",
        ),
        (
            "[episodes]\npattern = '(?P<task_subdir>[^/]+)/(?P<episode>[^/]+)/(?P=episode)'\n",
            "write [episodes] pattern without them",
        ),
        # tomllib recurses once per level: a RecursionError, not a traceback
        ("a = " + "[" * 100_000 + "]" * 100_000 + "\n", "nested too deeply to read"),
        ("a = " + "{b = " * 100_000 + "1" + "}" * 100_000 + "\n", "nested too deeply to read"),
        # a huge bad value is not echoed whole
        ("[paths]\nexport_dir = " + "[" * 300 + "]" * 300 + "\n", "[[[[[[…)"),
    ],
    ids=lambda value: value[:40] if isinstance(value, str) else str(value),
)
def test_a_bad_config_is_one_line_naming_the_key(tmp_path: Path, toml: str, needle: str) -> None:
    (tmp_path / "config.toml").write_text(toml, encoding="utf-8")
    result = run("check", cwd=tmp_path)
    assert result.returncode == 2
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_missing_config_says_what_to_do(tmp_path: Path) -> None:
    result = run("check", "--config", "nope.toml", cwd=tmp_path)
    assert result.returncode == 2 and "retrain-gate init" in result.stderr


def test_check_waits_for_a_pin_then_is_ready(project: Path) -> None:
    data = check_json(project)
    assert (data["corpus_episodes"], data["delta_episodes"], data["needed_episodes"]) == (30, 3, 3)
    assert data["delta_fraction"] == pytest.approx(0.1)
    assert data["task_counts"] == {"pick": 1, "pour": 1, "stack": 1}
    assert data["eval"]["status"] == "unpinned"
    assert data["ready"] is False and "pin" in data["reason"]
    assert [g["name"] for g in data["gates"]] == ["delta", "spread", "eval", "regression"]
    human = run("check", "--exit-code", cwd=project)
    assert human.returncode == 1
    assert human.stdout.startswith("WAIT")

    pin = run("pin-eval", "--by", "Kim", "--note", "first eval set", cwd=project)
    assert pin.returncode == 0, pin.stderr
    assert check_json(project)["ready"] is True
    assert run("check", "--exit-code", cwd=project).returncode == 0


def test_approve_moves_the_delta_into_the_corpus(project: Path) -> None:
    run("pin-eval", "--by", "Kim", "--note", "v1", cwd=project)
    result = run("approve", "--by", "  Ana  ", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "training slice:" in result.stdout
    manifest = Path(result.stdout.split("training slice: ")[1].splitlines()[0])
    rows = manifest.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "task_subdir,episode,frames,corrected_frames,release"
    assert sorted(rows[1:]) == ["pick,e1,2,0,m1", "pour,e1,2,0,m1", "stack,e1,2,0,m1"]
    data = check_json(project)
    # corpus 30 + 3 = 33; delta restarts at 0; needed = ceil(3.3) = 4.
    assert (data["corpus_episodes"], data["delta_episodes"], data["needed_episodes"]) == (33, 0, 4)
    ledger = json.loads(run("ledger", "--json", cwd=project).stdout)
    assert [e["kind"] for e in ledger] == ["pin", "approval"]
    assert ledger[1]["actor"] == "Ana"
    assert run("ledger", "verify", cwd=project).returncode == 0
    # The plain history says what each entry did, as the dashboard's ledger screen does.
    header, pin_line, approval_line = run("ledger", cwd=project).stdout.splitlines()
    assert "time (UTC)" in header
    assert pin_line.startswith("#1    pinned the eval set · Kim · ")
    assert "reason: v1 · at " in pin_line
    assert approval_line.startswith("#2    approved a retrain · Ana · ")
    assert "reason: (no note; the gates said READY) · " in approval_line
    assert approval_line.endswith(f"3 episodes → {manifest.name}")


def test_pinning_an_empty_eval_set_is_refused(project: Path) -> None:
    """An empty eval folder hashes like any other, and the gate would pass on it: pinning
    nothing is a folder not filled yet or a wrong path, so it is refused in one line."""
    folder = project / "evalset"
    folder.mkdir()
    (folder / ".DS_Store").write_bytes(b"finder")  # a dot file does not count
    config = project / "config.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace('"eval.txt"', '"evalset"'), encoding="utf-8"
    )
    refused = run("pin-eval", "--by", "Kim", "--note", "v1", cwd=project)
    assert refused.returncode == 2, refused.stdout
    assert refused.stderr.splitlines() == [
        f"retrain-gate: the eval set folder {folder} has no files (names starting with a dot do "
        "not count): put the eval files in it, or point [paths] eval_set at the folder that "
        "holds them, then pin. Nothing was recorded"
    ]
    (project / "eval.txt").write_bytes(b"")
    config.write_text(
        config.read_text(encoding="utf-8").replace('"evalset"', '"eval.txt"'), encoding="utf-8"
    )
    empty_file = run("pin-eval", "--by", "Kim", "--note", "v1", cwd=project)
    assert empty_file.returncode == 2
    assert f"the eval set file {project / 'eval.txt'} is empty" in empty_file.stderr
    assert json.loads(run("ledger", "--json", cwd=project).stdout) == []
    assert check_json(project)["eval"]["status"] == "unpinned"
    eval_gate = next(g for g in check_json(project)["gates"] if g["name"] == "eval")
    assert eval_gate["detail"] == (
        "eval set not pinned yet, pin it before retraining "
        f"(the eval set at {project / 'eval.txt'} is empty: put its files there first)"
    )

    (folder / "set.txt").write_text("eval v1\n", encoding="utf-8")  # one file: a pin
    config.write_text(
        config.read_text(encoding="utf-8").replace('"eval.txt"', '"evalset"'), encoding="utf-8"
    )
    assert run("pin-eval", "--by", "Kim", "--note", "v1", cwd=project).returncode == 0
    assert check_json(project)["eval"]["status"] == "pinned"


def test_an_override_never_pins_an_empty_eval_set(project: Path) -> None:
    """An approval pins the eval set it was made against: with the eval file emptied (the gate
    says WAIT), even an override with a note is refused, and nothing is recorded."""
    (project / "eval.txt").write_bytes(b"")
    refused = run("approve", "--by", "Ana", "--override", "--note", "deadline", cwd=project)
    assert refused.returncode == 2, refused.stdout
    assert refused.stderr.splitlines() == [
        f"retrain-gate: the eval set file {project / 'eval.txt'} is empty: write the eval set "
        "into it, or point [paths] eval_set at the eval set, then approve (it pins the eval "
        "set). Nothing was recorded"
    ]
    assert json.loads(run("ledger", "--json", cwd=project).stdout) == []


def test_approving_a_wait_needs_override_and_a_note(project: Path) -> None:
    refused = run("approve", "--by", "Ana", cwd=project)  # eval unpinned: WAIT
    assert refused.returncode == 2 and "--override" in refused.stderr
    no_note = run("approve", "--by", "Ana", "--override", cwd=project)
    assert no_note.returncode == 2 and "note" in no_note.stderr
    ok = run("approve", "--by", "Ana", "--override", "--note", "deadline", cwd=project)
    assert ok.returncode == 0, ok.stderr
    entry = json.loads(run("ledger", "--json", cwd=project).stdout)[0]
    assert entry["payload"]["override"] is True and entry["payload"]["note"] == "deadline"


def test_names_are_required_and_clean(project: Path) -> None:
    for bad in ("", "   ", "a\x1b[31mb", "x" * 81):
        result = run("report-regression", "--by", bad, "--note", "worse", cwd=project)
        assert result.returncode == 2, bad
        assert "name" in result.stderr
    assert json.loads(run("ledger", "--json", cwd=project).stdout) == []


def test_report_ack_and_approval_end_the_alert(project: Path) -> None:
    assert run("ack", "--by", "Kim", cwd=project).returncode == 2  # nothing to acknowledge
    assert (
        run("report-regression", "--by", "Lee", "--note", "hands drift", cwd=project).returncode
        == 0
    )
    data = check_json(project)
    assert data["ready"] is True and data["regression"]["active"] is True
    assert data["regression"]["source"] == "report"
    assert data["regression"]["acknowledged_by"] is None
    acked = run("ack", "--by", "Kim", cwd=project)
    assert acked.returncode == 0
    # What was acknowledged, in words (issue 21.9: it printed the key `report:1`).
    assert (
        "acknowledged by Kim: the regression Lee reported in #1 (hands drift) "
        "(the alert stays open until a retrain is approved)"
    ) in acked.stdout.splitlines()
    assert "report:" not in acked.stdout
    assert check_json(project)["regression"]["acknowledged_by"] == "Kim"
    assert run("approve", "--by", "Ana", cwd=project).returncode == 0
    after = check_json(project)
    assert after["regression"]["active"] is False and after["ready"] is False


def test_ledger_verify_catches_an_edit(project: Path) -> None:
    run("report-regression", "--by", "Lee", "--note", "hands drift", cwd=project)
    path = project / "state" / "ledger.jsonl"
    path.write_bytes(path.read_bytes().replace(b"hands", b"hanDs"))
    result = run("ledger", "verify", cwd=project)
    assert result.returncode == 1 and "1" in result.stderr


def test_check_keeps_state_and_does_not_reparse(project: Path) -> None:
    first = check_json(project)
    registry = project / "state" / "ingested.json"
    stamp = registry.stat().st_mtime_ns
    assert check_json(project) == first
    assert registry.stat().st_mtime_ns == stamp  # nothing new: nothing read or written


def test_deleting_derived_state_gives_the_same_figures(project: Path) -> None:
    run("pin-eval", "--by", "Kim", "--note", "v1", cwd=project)
    run("approve", "--by", "Ana", cwd=project)
    before = check_json(project)
    for path in (project / "state").iterdir():
        if path.name != "ledger.jsonl":
            if path.is_dir():
                for child in path.iterdir():
                    child.unlink()
                path.rmdir()
            else:
                path.unlink()
    assert check_json(project) == before


SEMANTICS_FIELDS = {
    "ready": None,
    "reason": None,
    "corpus_episodes": None,
    "delta_episodes": None,
    "needed_episodes": None,
    "delta_fraction": None,
    "task_counts": None,
    "task_gini": None,
    "top_task_share": None,
    "eval": {"status", "current_hash", "pinned_hash"},
    "releases": {"model_version", "episodes", "corrected_frames", "cpe"},
    "regression": {"active", "source", "previous", "current", "p_value", "acknowledged_by"},
    "frames": {"total", "reviewed", "skipped", "corrected", "unmapped", "correction_unknown"},
    "episodes": {"total", "harvested"},
    "gates": {"name", "passed", "value", "threshold", "detail"},
}


def test_check_json_on_the_demo_prints_every_field_of_the_semantics(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    config = tmp_path / "config.toml"
    text = (repo / "config.toml").read_text(encoding="utf-8")
    text = text.replace('"fixtures/', f'"{repo}/fixtures/').replace(
        'state_dir = ".retrain-gate"', f'state_dir = "{tmp_path / "state"}"'
    )
    config.write_text(text, encoding="utf-8")
    data = json.loads(run("check", "--json", "--config", str(config), cwd=tmp_path).stdout)
    for field, inner in SEMANTICS_FIELDS.items():
        assert field in data, field
        if inner is None:
            continue
        items = data[field] if isinstance(data[field], list) else [data[field]]
        assert items, field
        for item in items:
            assert inner <= set(item), (field, inner - set(item))
    assert [g["name"] for g in data["gates"]] == ["delta", "spread", "eval", "regression"]
    versions = [r["model_version"] for r in data["releases"]]
    assert versions == ["hand-kp-2026.09", "hand-kp-2026.10", "hand-kp-2026.11"]  # oldest first
    # the recorded reason is §8's; the headline does not say the decision twice
    assert data["reason"].startswith("regression: hand-kp-2026.11 needs ")
    first = run("check", "--config", str(config), cwd=tmp_path).stdout.splitlines()[0]
    assert first.startswith("REGRESSION hand-kp-2026.11 needs "), first


# ---------------------------------------------------------------- the parser and the README


def _subcommands() -> dict[str, Any]:
    import argparse

    from retrain_gate.cli import build_parser

    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_version(tmp_path: Path) -> None:
    from retrain_gate import __version__

    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"retrain-gate {__version__}"


def test_every_option_of_every_command_has_help() -> None:
    missing = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, sub in _subcommands().items()
        for action in sub._actions
        if not action.help
    ]
    assert missing == []


@pytest.mark.parametrize("flag", ["--csv", "--json"])
def test_ledger_verify_refuses_a_format_it_would_ignore(project: Path, flag: str) -> None:
    result = run("ledger", "verify", flag, cwd=project)
    assert result.returncode == 2
    assert f"does not take {flag}" in result.stderr and "Traceback" not in result.stderr


def test_the_readme_names_exactly_the_options_each_command_takes() -> None:
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `retrain-gate ([a-z-]+)([^`]*)`", readme, re.M)
    claimed: dict[str, set[str]] = {}
    for name, rest in rows:
        claimed.setdefault(name, set()).update(re.findall(r"--[a-z-]+", rest))
    subcommands = _subcommands()
    assert set(claimed) == set(subcommands)
    for name, sub in subcommands.items():
        options = {o for a in sub._actions for o in a.option_strings if o.startswith("--")}
        # --config and --help are said once for every command, under the table
        assert claimed[name] == options - {"--config", "--help"}, name


def test_init_writes_every_key_with_a_comment_and_reads_back_as_the_defaults(
    tmp_path: Path,
) -> None:
    import tomllib

    from retrain_gate.config import KEY_HELP, Config, load_config

    assert run("init", "new.toml", cwd=tmp_path).returncode == 0
    text = (tmp_path / "new.toml").read_text(encoding="utf-8")
    fields = {
        section: set(type(getattr(Config(), section)).model_fields)
        for section in Config.model_fields
        if section != "source"
    }
    assert {s: set(keys) for s, keys in KEY_HELP.items()} == fields
    lines = text.splitlines()
    for section, keys in fields.items():
        assert f"[{section}]" in lines
        for key in keys:
            at = next(i for i, line in enumerate(lines) if re.match(rf"(# )?{key} = ", line))
            assert lines[at - 1].startswith("# "), key  # explained just above
    # keys not set by default are there, commented out, and read back as unset
    for key in ("frames_field", "tasks", "gpu_hours_per_cycle", "cost_per_gpu_hour"):
        assert f"\n# {key} = " in text
    assert tomllib.loads(text)["gates"].get("tasks") is None
    loaded = load_config(tmp_path / "new.toml")
    assert loaded.model_dump(exclude={"paths", "source"}) == Config().model_dump(
        exclude={"paths", "source"}
    )


# ---------------------------------------------------------------- unmapped frames (§2)


def _flat_upload_project(tmp_path: Path, *, field: str = "image") -> Path:
    """Frames in one flat folder (/frames/<file>) have no episode in their path, so the default
    pattern (task_subdir/episode/file) matches none of them."""
    tasks = [task(i, f"/frames/ab12cd{i:02d}-f{i}.jpg") for i in range(1, 5)]
    write_export(tmp_path / "exports", "project-3-at-2026-11-26.json", tasks, mtime=1_000)
    (tmp_path / "eval").mkdir()
    (tmp_path / "config.toml").write_text(
        f'[paths]\nexport_dir = "exports"\nstate_dir = "state"\n[episodes]\nfield = "{field}"\n',
        encoding="utf-8",
    )
    return tmp_path


def test_every_frame_unmapped_is_a_configuration_error_naming_the_pattern(tmp_path: Path) -> None:
    project = _flat_upload_project(tmp_path)
    result = run("check", cwd=project)
    assert result.returncode == 2, result.stdout
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert "[episodes] pattern: every frame is unmapped" in line
    # the paths the pattern missed, sorted, so the user sees what to write a pattern for
    assert "e.g. /frames/ab12cd01-f1.jpg, /frames/ab12cd02-f2.jpg, /frames/ab12cd03-f3.jpg" in line


def test_a_field_absent_from_every_task_is_blamed_not_the_pattern(tmp_path: Path) -> None:
    project = _flat_upload_project(tmp_path, field="img")
    result = run("check", "--json", cwd=project)
    assert result.returncode == 2
    assert "[episodes] field: every frame is unmapped" in result.stderr
    assert "none has a path under task.data['img']" in result.stderr


def test_some_unmapped_frames_are_shown_with_examples(project: Path) -> None:
    extra = [task(90, "/calib/zz-calib.jpg"), task(91, "calibration_board.jpg")]
    write_export(project / "exports", "late.json", extra, mtime=3_000)
    data = check_json(project)
    assert data["frames"]["unmapped"] == 2
    assert data["unmapped"] == {
        "key": "pattern",
        "without_path": 0,
        "examples": ["/calib/zz-calib.jpg", "calibration_board.jpg"],
        "every_frame": False,
    }
    text = run("check", cwd=project).stdout
    assert "2 frames unmapped: [episodes] pattern does not match their paths, e.g. " in text


# ---------------------------------------------------------------- words (issue 21.9)


def test_config_is_accepted_before_the_command(project: Path, tmp_path_factory: Any) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    config = str(project / "config.toml")
    before = run("--config", config, "check", "--json", cwd=elsewhere)
    assert before.returncode == 0, before.stderr
    after = run("check", "--json", "--config", config, cwd=elsewhere)
    assert json.loads(before.stdout) == json.loads(after.stdout)
    # init names its file as an argument: --config there is a mistake to say, not to ignore
    init = run("--config", "mine.toml", "init", cwd=elsewhere)
    assert init.returncode == 2
    assert init.stderr.strip() == (
        "retrain-gate: init writes the file named after it, not --config: "
        "`retrain-gate init mine.toml`"
    )
    assert not (elsewhere / "config.toml").exists()


def test_an_option_a_command_does_not_take_shows_that_commands_usage(project: Path) -> None:
    result = run("ledger", "--episodes", cwd=project)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: retrain-gate ledger ")
    assert "retrain-gate ledger: error: unrecognized arguments: --episodes" in result.stderr


def test_with_one_release_the_regression_gate_is_not_applicable_yet(project: Path) -> None:
    # every frame of the fixture was pre-annotated by m1: nothing to compare it with
    data = check_json(project)
    gate = next(g for g in data["gates"] if g["name"] == "regression")
    assert gate["passed"] is None
    assert gate["detail"].startswith("not applicable yet: ")
    assert "only m1 so far" in gate["detail"]
    lines = run("check", cwd=project).stdout.splitlines()
    gate_lines = [line for line in lines if line.split()[0] in ("delta", "spread", "eval")]
    regression_line = next(line for line in lines if line.startswith("  regression"))
    assert regression_line.split()[:4] == ["regression", "n/a", "not", "applicable"]
    # the details start in one column whatever the verdict
    starts = {
        line.index(detail)
        for line, detail in [
            (gate_lines[0], "need"),
            (gate_lines[1], "Gini"),
            (gate_lines[2], "eval set"),
            (regression_line, "not applicable"),
        ]
    }
    assert len(starts) == 1, lines


def test_one_of_a_thing_is_singular(tmp_path: Path) -> None:
    write_export(tmp_path / "exports", "one.json", episode_tasks("pick", "e1", 1, n=1), mtime=1_000)
    (tmp_path / "eval").mkdir()
    (tmp_path / "config.toml").write_text(
        '[paths]\nexport_dir = "exports"\nstate_dir = "state"\n'
        "[gates]\nmin_first_train_episodes = 1\n",
        encoding="utf-8",
    )
    text = run("check", "--episodes", cwd=tmp_path).stdout
    assert "1 frame, 1 reviewed" in text and "; 1 episode, 1 harvested" in text
    assert "need 1 episode for a first training, have 1" in text
    assert "1 episode an approval now would put in the training slice" in text
    assert not re.search(r"\b1 (frames|episodes|files|exports|tasks)\b", text), text


def test_a_real_upload_path_gets_a_warning_in_check_and_json(tmp_path: Path) -> None:
    # Label Studio's own sample: a file uploaded through the UI, /data/upload/18/image1.jpg,
    # which the default pattern reads as task "upload", episode "18"
    sample = Path(__file__).parent / "data" / "ls_samples" / "lssdk_data_keypoints.json"
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "sample.json").write_bytes(sample.read_bytes())
    (tmp_path / "eval").mkdir()
    (tmp_path / "config.toml").write_text(
        '[paths]\nexport_dir = "exports"\nstate_dir = "state"\n', encoding="utf-8"
    )
    data = check_json(tmp_path)
    assert data["mapping"]["upload_frames"] == 1
    [warning] = data["mapping_warnings"]
    assert warning.startswith(
        "1 frame is a Label Studio upload, mapped as task 'upload', episode '18' "
        "(e.g. /data/upload/18/image1.jpg)"
    )
    text = run("check", cwd=tmp_path).stdout
    assert f"  warning: {warning}" in text.splitlines()


def test_ignored_files_are_shown_by_check_and_in_json(project: Path) -> None:
    (project / "exports" / "README").write_text("notes about this bucket\n", encoding="utf-8")
    (project / "exports" / "list").write_text("[]", encoding="utf-8")
    data = check_json(project)
    assert sorted(Path(p).name for p in data["ignored_files"]) == ["README", "list"]
    assert data["refused_files"] == {}
    lines = run("check", cwd=project).stdout.splitlines()
    at = lines.index("  2 files ignored (not Label Studio files; no figure uses them):")
    assert lines[at + 1].startswith(f"    {project / 'exports' / 'README'}: a file without an")
    assert lines[at + 2].startswith(f"    {project / 'exports' / 'list'}: a file without an")

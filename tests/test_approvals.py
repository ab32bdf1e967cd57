"""Approvals an auditor accepts (issue 16): who may decide, what a decision means, what it is
bound to. The real CLI on small hand-made folders, and the core functions on the same data."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import os
import pwd
import shlex
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.lsbuild import write_export
from tests.test_cli import episode_tasks
from tests.waiting import CLI, check_json, wait_for
from tests.waiting import run_cli as run

LEDGER = Path("state") / "ledger.jsonl"


def make_project(folder: Path, approvals: str = "") -> Path:
    """corpus 30 needs 3 new episodes: pick, stack and pour have one each (READY once pinned)."""
    tasks = [
        *episode_tasks("pick", "e1", 1),
        *episode_tasks("stack", "e1", 11),
        *episode_tasks("pour", "e1", 21),
    ]
    write_export(folder / "exports", "project-1-at-2026-11-20.json", tasks, mtime=1_000)
    (folder / "eval.txt").write_text("eval v1\n", encoding="utf-8")
    (folder / "config.toml").write_text(
        '[paths]\nexport_dir = "exports"\neval_set = "eval.txt"\nstate_dir = "state"\n'
        f"[gates]\ninitial_corpus_episodes = 30\n{approvals}",
        encoding="utf-8",
    )
    return folder


@pytest.fixture
def kim_only(tmp_path: Path) -> Path:
    return make_project(tmp_path, '[approvals]\napprovers = ["Kim Park"]\nack_by = ["Lee"]\n')


def ok(*args: str, cwd: Path) -> str:
    out = run(*args, cwd=cwd)
    assert out.returncode == 0, out.stderr
    return out.stdout


def ledger_bytes(folder: Path) -> bytes:
    path = folder / LEDGER
    return path.read_bytes() if path.exists() else b""


# ---------------------------------------------------------------- who may decide


def test_a_name_outside_the_allow_list_is_refused_and_nothing_is_recorded(kim_only: Path) -> None:
    ok("pin-eval", "--by", "Kim Park", "--note", "v1", cwd=kim_only)
    before = ledger_bytes(kim_only)
    for args in (
        ("approve", "--by", "Mallory"),
        ("pin-eval", "--by", "Mallory", "--note", "mine"),
        ("approve", "--by", "kim park"),  # exact: another spelling is another name
    ):
        out = run(*args, cwd=kim_only)
        assert out.returncode == 2, (args, out.stdout)
        assert "[approvals] approvers" in out.stderr and "Nothing was recorded" in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
        assert ledger_bytes(kim_only) == before
    assert not (kim_only / "state" / "approvals").exists()  # no manifest either
    # The same normalisation as every recorded name: surrounding blanks do not matter.
    ok("approve", "--by", "  Kim Park ", cwd=kim_only)
    assert ledger_bytes(kim_only) != before


def test_ack_by_is_its_own_list(kim_only: Path) -> None:
    ok("report-regression", "--by", "anyone at all", "--note", "thumbs drift", cwd=kim_only)
    before = ledger_bytes(kim_only)
    refused = run("ack", "--by", "Kim Park", cwd=kim_only)
    assert refused.returncode == 2 and "[approvals] ack_by" in refused.stderr
    assert ledger_bytes(kim_only) == before
    ok("ack", "--by", "Lee", cwd=kim_only)


def test_a_name_tied_to_an_os_user(tmp_path: Path) -> None:
    me = real_user()
    folder = make_project(
        tmp_path,
        "[approvals]\napprovers = ["
        f'{{ name = "Kim Park", os_user = "laptop-{me}" }}, '
        f'{{ name = "Kim Park", os_user = "{me}" }}, '
        f'{{ name = "Ana", os_user = "not-{me}" }}]\n',
    )
    refused = run("pin-eval", "--by", "Ana", "--note", "v1", cwd=folder)
    assert refused.returncode == 2
    assert f"only as the OS user not-{me}" in refused.stderr
    assert ledger_bytes(folder) == b""
    ok("pin-eval", "--by", "Kim Park", "--note", "v1", cwd=folder)


def real_user() -> str:
    """The login of this process's real uid: what every entry must record."""
    return pwd.getpwuid(os.getuid()).pw_name


def test_logname_and_user_do_not_change_who_decides(tmp_path: Path) -> None:
    # Issue 22.2: getpass.getuser() believed LOGNAME, so `LOGNAME=lchan` let root sign as
    # Lee Chan, and the ledger recorded lchan.
    me = real_user()
    other = "lchan" if me != "lchan" else "kpark"
    folder = make_project(
        tmp_path,
        f'[approvals]\napprovers = [{{ name = "Lee Chan", os_user = "{other}" }}, "Kim Park"]\n',
    )
    env = {**os.environ, "LOGNAME": other, "USER": other, "LNAME": other, "USERNAME": other}

    def as_other(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=120
        )

    refused = as_other("pin-eval", "--by", "Lee Chan", "--note", "v1")
    assert refused.returncode == 2, refused.stdout
    assert f"only as the OS user {other}" in refused.stderr
    assert f"this is {me};" in refused.stderr
    assert ledger_bytes(folder) == b""
    recorded = as_other("pin-eval", "--by", "Kim Park", "--note", "v1")
    assert recorded.returncode == 0, recorded.stderr
    assert f"by Kim Park ({me}@" in recorded.stdout
    (entry,) = [json.loads(line) for line in ledger_bytes(folder).splitlines()]
    assert entry["os_user"] == me


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ('approvers = "Kim"\n', "'approvals.approvers' must be a list of names"),
        ('approvers = [""]\n', "'approvals.approvers' entry 1: name is empty"),
        ('ack_by = ["ok", { name = "Kim" }]\n', "'approvals.ack_by' entry 2: os_user"),
        ("approver = []\n", "unknown key 'approver' in [approvals]"),
    ],
)
def test_a_bad_allow_list_is_one_line_naming_the_key(
    tmp_path: Path, toml: str, needle: str
) -> None:
    folder = make_project(tmp_path, "[approvals]\n" + toml)
    out = run("approve", "--by", "Kim", cwd=folder)
    assert out.returncode == 2
    assert needle in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- bound to the manifest


def approved(folder: Path, by: str = "Kim Park") -> Path:
    ok("pin-eval", "--by", by, "--note", "v1", cwd=folder)
    out = ok("approve", "--by", by, cwd=folder)
    line = next(x for x in out.splitlines() if x.startswith("training slice: "))
    return Path(line.removeprefix("training slice: "))


def test_a_manifest_edited_after_its_approval_fails_verify(kim_only: Path) -> None:
    manifest = approved(kim_only)
    clean = run("ledger", "verify", cwd=kim_only)
    assert clean.returncode == 0, clean.stderr
    assert "manifests: 1 of 1 match their approval" in clean.stdout
    data = bytearray(manifest.read_bytes())
    data[-2] ^= 0x01  # one byte of the last row's release
    manifest.write_bytes(bytes(data))
    failed = run("ledger", "verify", cwd=kim_only)
    assert failed.returncode == 1
    assert "ledger ok" in failed.stdout  # the chain itself is intact
    assert f"manifest FAILED: entry 2 (Kim Park): {manifest}: CHANGED" in failed.stderr
    assert "Traceback" not in failed.stderr
    one = run("manifest", cwd=kim_only)
    assert (one.returncode, one.stdout) == (1, "")  # no path to a file nobody approved
    assert "CHANGED" in one.stderr
    # Issue 21.1: the recipe of docs/approvals.md, and the one the issue tried, in `bash -e`:
    # neither reaches the changed file.
    for recipe in (
        'slice="$(retrain-gate manifest)"; echo "training on $slice"; cat -- "$slice"',
        'cat -- "$(retrain-gate manifest)"; echo "trained"',
    ):
        script = f'retrain-gate() {{ {shlex.join(CLI)} "$@"; }}; {recipe}'
        shell = subprocess.run(
            ["bash", "-ec", script], cwd=kim_only, capture_output=True, text=True, timeout=120
        )
        assert shell.returncode != 0, recipe
        assert "training on" not in shell.stdout and "task_subdir" not in shell.stdout, recipe


def test_a_missing_manifest_is_a_warning(kim_only: Path) -> None:
    manifest = approved(kim_only)
    manifest.unlink()
    out = run("ledger", "verify", cwd=kim_only)
    assert out.returncode == 0
    assert f"warning: manifest of entry 2 (Kim Park): {manifest}: missing" in out.stderr
    assert "manifests: 0 of 1 match their approval, 1 missing" in out.stdout
    missing = run("manifest", "2", cwd=kim_only)
    assert (missing.returncode, missing.stdout) == (1, "")
    assert f"{manifest}: missing" in missing.stderr


def test_manifest_prints_the_path_and_checks_it(kim_only: Path) -> None:
    assert run("manifest", cwd=kim_only).returncode == 2  # no approval yet
    manifest = approved(kim_only)
    out = run("manifest", cwd=kim_only)
    assert (out.returncode, out.stdout) == (0, f"{manifest}\n")
    assert "entry 2 (Kim Park)" in out.stderr and "matches the ledger" in out.stderr
    assert run("manifest", "2", cwd=kim_only).stdout == f"{manifest}\n"
    wrong = run("manifest", "1", cwd=kim_only)  # entry 1 is the pin
    assert (wrong.returncode, wrong.stdout) == (2, "")
    assert "entry 1 is not an approval: it pinned the eval set; nothing to show" in wrong.stderr
    absent = run("manifest", "9", cwd=kim_only)
    assert (absent.returncode, absent.stdout) == (2, "")
    assert "there is no entry 9 (the ledger has 2 entries)" in absent.stderr
    # A state folder moved elsewhere (an audit copy): found beside its ledger.
    (kim_only / "state").rename(kim_only / "audit")
    text = (kim_only / "config.toml").read_text(encoding="utf-8")
    (kim_only / "config.toml").write_text(text.replace('"state"', '"audit"'), encoding="utf-8")
    moved = run("manifest", cwd=kim_only)
    assert (
        moved.returncode == 0
        and moved.stdout == f"{kim_only / 'audit' / 'approvals' / manifest.name}\n"
    )


# ---------------------------------------------------------------- meaning and reason


def test_every_entry_states_its_meaning_name_time_origin_and_reason(kim_only: Path) -> None:
    ok("pin-eval", "--by", "Kim Park", "--note", "eval v1 frozen", cwd=kim_only)
    ok("report-regression", "--by", "Ana", "--note", "thumbs drift", cwd=kim_only)
    ok("ack", "--by", "Lee", cwd=kim_only)
    ok("approve", "--by", "Kim Park", "--note", "retrain on the drift", cwd=kim_only)
    me = f"{real_user()}@"
    lines = ok("ledger", cwd=kim_only).splitlines()
    assert lines[0].startswith("#seq  meaning · name · time (UTC) · OS user@host · reason")
    expected = [
        ("pinned the eval set", "Kim Park", "eval v1 frozen"),
        ("reported a regression", "Ana", "thumbs drift"),
        ("acknowledged an alert", "Lee", "(no note)"),
        ("approved a retrain", "Kim Park", "retrain on the drift"),
    ]
    for seq, (line, (meaning, name, reason)) in enumerate(
        zip(lines[1:], expected, strict=True), start=1
    ):
        fields = line.split(" · ")
        assert fields[0] == f"#{seq:<4} {meaning}"
        assert fields[1] == name
        assert fields[2].endswith("Z") and fields[2].startswith("20")  # ISO 8601, UTC
        assert fields[3].startswith(me)
        assert fields[4] == f"reason: {reason}"
    rows = list(csv.DictReader(io.StringIO(ok("ledger", "--csv", cwd=kim_only))))
    assert list(rows[0])[:7] == [
        "seq", "meaning", "name", "time_utc", "os_user", "host", "reason"
    ]  # fmt: skip
    assert [(r["meaning"], r["name"], r["reason"]) for r in rows] == expected
    # The meaning is part of what the hash covers, not only a label added when printing.
    stored = json.loads(ok("ledger", "--json", cwd=kim_only))
    assert [e["payload"]["meaning"] for e in stored] == [m for m, _, _ in expected]


def test_auditing_a_period(kim_only: Path) -> None:
    ok("pin-eval", "--by", "Kim Park", "--note", "v1", cwd=kim_only)
    ok("approve", "--by", "Kim Park", cwd=kim_only)
    today = datetime.now(UTC).date()
    tomorrow, yesterday = today + timedelta(days=1), today - timedelta(days=1)
    assert len(ok("ledger", "--since", str(today), cwd=kim_only).splitlines()) == 3
    assert len(ok("ledger", "--until", str(today), cwd=kim_only).splitlines()) == 3
    assert "no entries in that period" in ok("ledger", "--since", str(tomorrow), cwd=kim_only)
    assert "no entries in that period" in ok("ledger", "--until", str(yesterday), cwd=kim_only)
    second = json.loads(ok("ledger", "--json", cwd=kim_only))[1]["ts"]
    only = json.loads(ok("ledger", "--json", "--since", second, cwd=kim_only))
    assert [e["seq"] for e in only] == [2]
    csv_rows = ok("ledger", "--csv", "--until", str(yesterday), cwd=kim_only).splitlines()
    assert len(csv_rows) == 1  # the header alone
    bad = run("ledger", "--since", "last week", cwd=kim_only)
    assert bad.returncode == 2 and "--since 'last week' is not a date" in bad.stderr


# ---------------------------------------------------------------- decline


def test_a_decline_is_recorded_and_shown_until_the_delta_changes(kim_only: Path) -> None:
    ok("pin-eval", "--by", "Kim Park", "--note", "v1", cwd=kim_only)
    refused = run("decline", "--by", "Mallory", "--note", "not now", cwd=kim_only)
    assert refused.returncode == 2 and "[approvals] approvers" in refused.stderr
    assert run("decline", "--by", "Kim Park", "--note", " ", cwd=kim_only).returncode == 2
    assert len(json.loads(ok("ledger", "--json", cwd=kim_only))) == 1

    out = ok("decline", "--by", "Kim Park", "--note", "GPU cluster is down this week", cwd=kim_only)
    assert "declined by Kim Park: GPU cluster is down this week" in out
    data = check_json(kim_only)
    assert (data["decision"], data["ready"]) == ("READY", True)  # what the data say, still
    assert data["declined"]["by"] == "Kim Park"
    assert data["declined"]["note"] == "GPU cluster is down this week"
    text = ok("check", cwd=kim_only)
    assert "declined by Kim Park at 20" in text and ": GPU cluster is down this week" in text
    row = list(csv.DictReader(io.StringIO(ok("ledger", "--csv", cwd=kim_only))))[-1]
    assert (row["meaning"], row["name"], row["reason"]) == (
        "declined a retrain",
        "Kim Park",
        "GPU cluster is down this week",
    )
    assert row["details"] == "the gates said READY"

    # One more harvested episode: a new delta, so the decline no longer speaks for it.
    write_export(
        kim_only / "exports", "project-1-at-2026-11-21.json", episode_tasks("pick", "e2", 31),
        mtime=2_000,
    )  # fmt: skip
    assert check_json(kim_only)["declined"] is None
    assert "declined" not in ok("check", cwd=kim_only)


def test_declining_a_wait_is_refused(kim_only: Path) -> None:
    out = run("decline", "--by", "Kim Park", "--note", "no", cwd=kim_only)  # eval unpinned
    assert out.returncode == 2 and "there is no retrain to decline" in out.stderr
    assert ledger_bytes(kim_only) == b""


def test_an_approval_ends_a_decline(kim_only: Path) -> None:
    ok("pin-eval", "--by", "Kim Park", "--note", "v1", cwd=kim_only)
    ok("decline", "--by", "Kim Park", "--note", "not today", cwd=kim_only)
    ok("approve", "--by", "Kim Park", "--note", "cluster is back", cwd=kim_only)
    assert check_json(kim_only)["declined"] is None


# ---------------------------------------------------------------- 14.13: nothing new


def test_a_second_approval_with_nothing_new_needs_an_override(kim_only: Path) -> None:
    ok("pin-eval", "--by", "Kim Park", "--note", "v1", cwd=kim_only)
    ok("approve", "--by", "Kim Park", cwd=kim_only)
    ok("report-regression", "--by", "Ana", "--note", "thumbs drift", cwd=kim_only)
    data = check_json(kim_only)
    assert (data["decision"], data["delta_episodes"]) == ("REGRESSION", 0)
    before = ledger_bytes(kim_only)
    manifests_before = sorted((kim_only / "state" / "approvals").iterdir())
    out = run("approve", "--by", "Kim Park", cwd=kim_only)
    assert out.returncode == 2
    assert "nothing new to approve: no harvested episode since the last approval #2" in out.stderr
    assert "--override" in out.stderr
    no_note = run("approve", "--by", "Kim Park", "--override", cwd=kim_only)
    assert no_note.returncode == 2 and "note" in no_note.stderr
    assert ledger_bytes(kim_only) == before
    assert sorted((kim_only / "state" / "approvals").iterdir()) == manifests_before
    ok("approve", "--by", "Kim Park", "--override", "--note", "same data, new seed", cwd=kim_only)
    last = json.loads(ok("ledger", "--json", cwd=kim_only))[-1]
    assert last["payload"]["override"] is True and last["payload"]["approved_episodes"] == []
    assert check_json(kim_only)["decision"] == "WAIT"  # the report is answered


# ---------------------------------------------------------------- 22.7: an anchor kept elsewhere


def rechain(folder: Path, edit: Callable[[list[dict[str, Any]]], None]) -> None:
    """What someone with write access can do: change entries, then recompute every hash."""
    from retrain_gate.decisions.ledger import GENESIS_HASH, canonical_json, entry_hash

    entries = [json.loads(line) for line in ledger_bytes(folder).splitlines()]
    edit(entries)
    prev = GENESIS_HASH
    for seq, entry in enumerate(entries, start=1):
        entry["seq"], entry["prev_hash"] = seq, prev
        entry["hash"] = prev = entry_hash(entry)
    (folder / LEDGER).write_bytes(b"".join(canonical_json(e) + b"\n" for e in entries))


def test_ledger_head_and_verify_anchor(kim_only: Path) -> None:
    empty = run("ledger", "head", cwd=kim_only)
    assert (empty.returncode, empty.stdout) == (2, "")
    assert "no entries yet" in empty.stderr
    ok("pin-eval", "--by", "Kim Park", "--note", "v1", cwd=kim_only)
    ok("approve", "--by", "Kim Park", cwd=kim_only)
    stored = json.loads(ok("ledger", "--json", cwd=kim_only))
    head = run("ledger", "head", cwd=kim_only)
    assert head.returncode == 0
    assert head.stdout == stored[1]["hash"] + "\n"  # alone, for a script to post elsewhere
    assert "the chain hash of entry #2 (approved a retrain · Kim Park" in head.stderr
    anchor = stored[1]["hash"]
    ok("report-regression", "--by", "Ana", "--note", "thumbs drift", cwd=kim_only)
    held = ok("ledger", "verify", "--anchor", anchor.upper(), cwd=kim_only)
    assert f"anchor ok: {anchor[:12]}… is entry #2 (approved a retrain · Kim Park" in held
    assert "entries 1 to 2 are exactly as they were when it was taken" in held
    assert "and 1 entry was added since" in held

    # A plain chain cannot tell a file re-chained by someone with write access: the note of
    # entry 1 changed, every hash recomputed, and `verify` alone still passes.
    def reword(entries: list[dict[str, Any]]) -> None:
        entries[0]["payload"]["note"] = "v0"

    rechain(kim_only, reword)
    assert run("ledger", "verify", cwd=kim_only).returncode == 0
    caught = run("ledger", "verify", "--anchor", anchor, cwd=kim_only)
    assert caught.returncode == 1
    assert f"anchor FAILED: {anchor} is not the hash of any entry of" in caught.stderr
    assert "re-chained" in caught.stderr

    # An entry removed before the anchor, the rest re-chained: caught the same way.
    rechain(kim_only, lambda entries: entries.pop(0))
    assert run("ledger", "verify", "--anchor", anchor, cwd=kim_only).returncode == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("ledger", "verify", "--anchor", "abc123"), "--anchor 'abc123' is not a chain hash"),
        (("ledger", "head", "--anchor", "a" * 64), "--anchor goes with `ledger verify`"),
        (("ledger", "--anchor", "a" * 64), "--anchor goes with `ledger verify`"),
        (("ledger", "head", "--json"), "`ledger head` does not take --json"),
    ],
)
def test_ledger_anchor_misuse_is_one_line(
    kim_only: Path, args: tuple[str, ...], needle: str
) -> None:
    ok("pin-eval", "--by", "Kim Park", "--note", "v1", cwd=kim_only)
    out = run(*args, cwd=kim_only)
    assert (out.returncode, out.stdout) == (2, "")
    assert needle in out.stderr and len(out.stderr.splitlines()) == 1


def test_ledger_head_of_a_damaged_ledger_prints_no_hash(kim_only: Path) -> None:
    ok("pin-eval", "--by", "Kim Park", "--note", "v1", cwd=kim_only)
    path = kim_only / LEDGER
    path.write_bytes(path.read_bytes().replace(b'"v1"', b'"v2"'))
    out = run("ledger", "head", cwd=kim_only)
    assert (out.returncode, out.stdout) == (1, "")
    assert "ledger FAILED: " in out.stderr and "entry 1 (line 1)" in out.stderr


# ---------------------------------------------------------------- 22.10: approvals at once


def _has_open(pid: int, path: Path) -> bool:
    """Whether process `pid` has `path` open (Linux: its /proc/PID/fd links)."""
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    targets = set()
    for fd in fds:
        with contextlib.suppress(OSError):  # closed since the listing
            targets.add(Path(os.readlink(fd)))
    return path in targets


def test_approvals_at_once_record_one(kim_only: Path) -> None:
    ok("pin-eval", "--by", "Kim Park", "--note", "v1", cwd=kim_only)
    ok("check", cwd=kim_only)  # the frames are saved: the racers have nothing to read
    lock = (kim_only / "state" / "ledger.lock").resolve()
    # Another writer holds the ledger while three approvals arrive: when it lets go, they
    # all go at once. Each must then decide on the ledger as the one before it left it.
    holder = os.open(lock, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        racers = [
            subprocess.Popen(
                [*CLI, "approve", "--by", "Kim Park"],
                cwd=kim_only,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        wait_for(
            lambda: all(_has_open(r.pid, lock) for r in racers),
            60,
            "every approval waiting for the ledger lock",
        )
    finally:
        os.close(holder)
    outcomes = [(r.wait(120), *r.communicate()) for r in racers]
    assert sorted(code for code, _, _ in outcomes) == [0, 2, 2], outcomes
    for code, _out, err in outcomes:
        if code == 2:
            # The first approval emptied the delta: the gates now say WAIT.
            assert "the gates say WAIT" in err and "Traceback" not in err, err
    kinds = [json.loads(line)["kind"] for line in ledger_bytes(kim_only).splitlines()]
    assert kinds == ["pin", "approval"]
    assert len(list((kim_only / "state" / "approvals").iterdir())) == 1  # one manifest
    assert run("ledger", "verify", cwd=kim_only).returncode == 0


# ---------------------------------------------------------------- two people for an override


@pytest.fixture
def two_person(tmp_path: Path) -> Path:
    return make_project(
        tmp_path,
        '[approvals]\napprovers = ["Kim Park", "Lee Chan"]\nsecond_approver_for_override = true\n',
    )


def test_an_override_needs_a_second_different_approver(two_person: Path) -> None:
    # Eval unpinned: WAIT. The first approver's override is only a request.
    out = ok("approve", "--by", "Kim Park", "--override", "--note", "demo Friday", cwd=two_person)
    assert "approval requested by Kim Park (#1)" in out and "training slice" not in out
    assert not (two_person / "state" / "approvals").exists()
    data = check_json(two_person)
    assert data["decision"] == "WAIT" and data["corpus_episodes"] == 30  # nothing approved
    assert data["pending_approval"]["by"] == "Kim Park"
    assert "waiting for a second approver" in ok("check", cwd=two_person)

    before = ledger_bytes(two_person)
    same = run("approve", "--by", "Kim Park", "--override", "--note", "again", cwd=two_person)
    assert same.returncode == 2, same.stdout
    assert "a second, different approver must confirm it" in same.stderr
    assert ledger_bytes(two_person) == before

    confirmed = ok("approve", "--by", "Lee Chan", cwd=two_person)
    assert "confirming #1 by Kim Park" in confirmed and "training slice: " in confirmed
    data = check_json(two_person)
    assert data["pending_approval"] is None and data["corpus_episodes"] == 33
    rows = list(csv.DictReader(io.StringIO(ok("ledger", "--csv", cwd=two_person))))
    assert [(r["meaning"], r["name"]) for r in rows] == [
        ("requested a retrain against WAIT (needs a second approver)", "Kim Park"),
        ("approved a retrain", "Lee Chan"),
    ]
    assert rows[1]["reason"] == "(no note; confirms the request by Kim Park: demo Friday)"
    assert "confirms #1 by Kim Park" in rows[1]["details"]
    assert run("ledger", "verify", cwd=two_person).returncode == 0


def test_the_second_approver_can_decline_the_request(two_person: Path) -> None:
    ok("approve", "--by", "Kim Park", "--override", "--note", "demo Friday", cwd=two_person)
    out = ok("decline", "--by", "Lee Chan", "--note", "not worth a cycle", cwd=two_person)
    assert "declined by Lee Chan (the request #1 by Kim Park): not worth a cycle" in out
    data = check_json(two_person)
    assert data["pending_approval"] is None and data["corpus_episodes"] == 30
    assert data["declined"]["by"] == "Lee Chan"
    last = json.loads(ok("ledger", "--json", cwd=two_person))[-1]
    assert (last["kind"], last["payload"]["declines_request"]) == ("decline", 1)
    # Nothing pending any more: a plain approval is refused again as a WAIT.
    assert run("approve", "--by", "Lee Chan", cwd=two_person).returncode == 2


def test_without_an_allow_list_case_does_not_make_a_second_person(tmp_path: Path) -> None:
    folder = make_project(tmp_path, "[approvals]\nsecond_approver_for_override = true\n")
    ok("approve", "--by", "Kim Park", "--override", "--note", "demo Friday", cwd=folder)
    same = run("approve", "--by", "KIM PARK", cwd=folder)
    assert same.returncode == 2 and "a second, different approver" in same.stderr
    ok("approve", "--by", "Lee", cwd=folder)


# ---------------------------------------------------------------- 14.3: what would be approved


def test_check_episodes_lists_what_an_approval_would_approve(kim_only: Path) -> None:
    write_export(
        kim_only / "exports",
        "project-1-at-2026-11-21.json",
        [*episode_tasks("pick", "e2", 31, n=3)[:2], *episode_tasks("pick", "e3", 41, n=1)],
        mtime=2_000,
    )
    lines = ok("check", "--episodes", cwd=kim_only).splitlines()
    start = lines.index("  5 episodes an approval now would put in the training slice:")
    assert lines[start + 1 :] == [
        "    task   episode  frames  corrected  release",
        "    pick   e1            2          0  m1",
        "    pick   e2            2          0  m1",
        "    pick   e3            1          0  m1",
        "    pour   e1            2          0  m1",
        "    stack  e1            2          0  m1",
    ]
    data = json.loads(ok("check", "--json", "--episodes", cwd=kim_only))
    assert data["delta_episode_list"][1] == {
        "task_subdir": "pick",
        "episode": "e2",
        "frames": 2,
        "corrected_frames": 0,
        "release": "m1",
    }
    # Exactly the rows the approval's manifest then holds.
    manifest = approved(kim_only)
    rows = manifest.read_text(encoding="utf-8").splitlines()[1:]
    assert sorted(rows) == ["pick,e1,2,0,m1", "pick,e2,2,0,m1", "pick,e3,1,0,m1",
                            "pour,e1,2,0,m1", "stack,e1,2,0,m1"]  # fmt: skip


def test_ledger_prints_whole_notes(kim_only: Path) -> None:
    note = "the wrist keypoints drift on every camera; " * 40 + "END"
    assert len(note) > 1000
    ok("report-regression", "--by", "Ana", "--note", note, cwd=kim_only)
    assert f"reason: {note.strip()}" in ok("ledger", cwd=kim_only)

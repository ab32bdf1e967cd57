from __future__ import annotations

import csv
import errno
import hashlib
import io
import itertools
import json
import multiprocessing
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrain_gate.decisions import ledger as ledger_mod
from retrain_gate.decisions.ledger import (
    GENESIS_HASH,
    Ledger,
    LedgerEntry,
    canonical_json,
    entry_hash,
)
from retrain_gate.decisions.output import entries_to_csv, entries_to_json, entry_line, news_line
from retrain_gate.decisions.replay import human_state
from retrain_gate.errors import LedgerError
from retrain_gate.models import Ack, HumanState, Pin, RegressionReport
from retrain_gate.text import csv_cell

SRC = Path(__file__).resolve().parents[1] / "src"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _small_ledger(state_dir: Path) -> Ledger:
    ledger = Ledger(state_dir)
    ledger.append(
        "approval",
        "Zoë",
        {
            "approved_episodes": [["pick_cube", "ep_001"], ["stack", "ep_7"]],
            "eval_hash": "ab" * 32,
            "ended_alert_keys": [],
            "figures": {"delta_fraction": 0.1, "cpe": 1.25, "n": 3},
            "note": "first",
            "override": False,
            "manifest": "approvals/0001.csv",
        },
    )
    ledger.append("report", "Bob", {"note": "boxes drift"})
    ledger.append("ack", "李", {"alert_keys": ["report:2"], "note": ""})
    ledger.append("pin", "Alice", {"eval_hash": "cd" * 32, "note": "new eval"})
    return ledger


# ---------------------------------------------------------------- the chain


def test_append_builds_a_chain(tmp_path: Path) -> None:
    ledger = _small_ledger(tmp_path / "state")
    entries = ledger.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert [e.kind for e in entries] == ["approval", "report", "ack", "pin"]
    assert entries[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    for entry in entries:
        assert entry.hash == entry_hash(entry.as_dict())
        assert entry.ts.endswith("Z")
        assert entry.os_user == ledger_mod.os_user()
        assert entry.host == ledger_mod.host()
    result = ledger.verify()
    assert result.ok, result.message
    assert result.count == 4
    assert result.last_hash == entries[-1].hash
    assert not result.partial_tail


def test_file_format_is_one_canonical_line_per_entry(tmp_path: Path) -> None:
    ledger = _small_ledger(tmp_path)
    lines = ledger.path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    for raw in lines[:-1]:
        obj = json.loads(raw)
        assert set(obj) == {
            "seq",
            "ts",
            "kind",
            "actor",
            "os_user",
            "host",
            "payload",
            "prev_hash",
            "hash",
        }
        assert canonical_json(obj) == raw
        body = {k: v for k, v in obj.items() if k != "hash"}
        expected = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert obj["hash"] == hashlib.sha256(expected.encode("utf-8")).hexdigest()


def test_append_returns_what_is_read_back(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    returned = ledger.append("ack", " Alice ", {"alert_keys": ("a", "b"), "note": "x"})
    assert returned.actor == "Alice"  # validated and stripped
    assert returned.payload == {"alert_keys": ["a", "b"], "note": "x"}
    assert ledger.entries() == [returned]


def test_append_creates_state_dir(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "a" / "b")
    ledger.append("report", "Al", {"note": ""})
    assert ledger.path.exists()


def test_append_refuses_bad_input(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    with pytest.raises(ValueError, match="kind"):
        ledger.append("delete", "Al", {})
    with pytest.raises(ValueError, match="name"):
        ledger.append("report", "A\u202el", {"note": ""})
    with pytest.raises(ValueError, match="payload"):
        ledger.append("report", "Al", {"x": float("nan")})
    with pytest.raises(ValueError, match="payload"):
        ledger.append("report", "Al", {"x": object()})
    with pytest.raises(ValueError, match="payload"):
        ledger.append("report", "Al", {"x": "\ud800"})
    assert not ledger.path.exists() or ledger.path.read_bytes() == b""
    assert ledger.verify().ok


def test_empty_and_missing_ledger(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "nope")
    assert ledger.entries() == []
    result = ledger.verify()
    assert result.ok and result.count == 0
    assert not (tmp_path / "nope").exists()  # reading creates nothing


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"])),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_any_json_payload_round_trips_and_verifies(payload: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(Path(tmp))
        first = ledger.append("approval", "Al", payload)
        second = ledger.append("report", "Bo", {"note": "after"})
        assert ledger.entries() == [first, second]
        assert ledger.verify().ok


# ---------------------------------------------------------------- tampering


def _replacements(original: int) -> set[int]:
    return {original ^ 0x01, original ^ 0x20, ord(" "), ord("\n"), 0xFF} - {original}


def test_changing_any_byte_fails_on_exactly_that_entry(tmp_path: Path) -> None:
    ledger = _small_ledger(tmp_path)
    data = ledger.path.read_bytes()
    assert len(data) < 3000
    for position in range(len(data)):
        expected_entry = data[:position].count(b"\n") + 1
        for value in _replacements(data[position]):
            tampered = bytearray(data)
            tampered[position] = value
            ledger.path.write_bytes(bytes(tampered))
            result = ledger.verify()
            assert not result.ok, (position, value)
            assert result.first_bad_seq == expected_entry, (position, value, result.message)
            assert result.first_bad_line == expected_entry
            assert result.count == expected_entry - 1
    ledger.path.write_bytes(data)
    assert ledger.verify().ok


def _rewrite_line(path: Path, number: int, new: bytes) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[number - 1] = new
    path.write_bytes(b"\n".join(lines))


@pytest.mark.parametrize(
    "variant",
    ["spaces", "key_order", "ascii_escapes", "float_digits", "trailing_space", "duplicate_key"],
)
def test_json_equivalent_edits_are_caught(tmp_path: Path, variant: str) -> None:
    ledger = _small_ledger(tmp_path)
    raw = ledger.path.read_bytes().split(b"\n")[0]
    obj = json.loads(raw)
    if variant == "spaces":
        new = json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()
    elif variant == "key_order":
        new = json.dumps(
            dict(reversed(list(obj.items()))), separators=(",", ":"), ensure_ascii=False
        ).encode()
    elif variant == "ascii_escapes":
        new = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    elif variant == "float_digits":
        new = raw.replace(b'"cpe":1.25', b'"cpe":1.250')
    elif variant == "trailing_space":
        new = raw + b" "
    else:
        new = raw[:-1] + b',"seq":1}'
    assert new != raw
    assert json.loads(new) == obj
    _rewrite_line(ledger.path, 1, new)
    result = ledger.verify()
    assert not result.ok
    assert result.first_bad_seq == 1
    assert "canonical" in result.message


def test_rehashed_edit_breaks_the_next_link(tmp_path: Path) -> None:
    # Someone edits entry 2 and recomputes its hash: entry 3 no longer links to it.
    ledger = _small_ledger(tmp_path)
    obj = json.loads(ledger.path.read_bytes().split(b"\n")[1])
    obj["payload"]["note"] = "nothing to see"
    obj["hash"] = entry_hash(obj)
    _rewrite_line(ledger.path, 2, canonical_json(obj))
    result = ledger.verify()
    assert not result.ok
    assert result.first_bad_seq == 3
    assert "prev_hash" in result.message


@pytest.mark.parametrize("operation", ["delete_middle", "swap", "duplicate"])
def test_removed_reordered_or_repeated_entries_are_caught(tmp_path: Path, operation: str) -> None:
    ledger = _small_ledger(tmp_path)
    lines = ledger.path.read_bytes().split(b"\n")[:-1]
    if operation == "delete_middle":
        del lines[1]
        expected = 2
    elif operation == "swap":
        lines[1], lines[2] = lines[2], lines[1]
        expected = 2
    else:
        lines.insert(2, lines[1])
        expected = 3
    ledger.path.write_bytes(b"\n".join(lines) + b"\n")
    result = ledger.verify()
    assert not result.ok
    assert result.first_bad_seq == expected


def test_entries_refuses_a_line_that_is_not_an_entry(tmp_path: Path) -> None:
    ledger = _small_ledger(tmp_path)
    _rewrite_line(ledger.path, 2, b'{"hello": 1}')
    with pytest.raises(LedgerError, match="line 2"):
        ledger.entries()


def test_append_refuses_a_damaged_last_entry(tmp_path: Path) -> None:
    ledger = _small_ledger(tmp_path)
    data = ledger.path.read_bytes()
    ledger.path.write_bytes(data.replace(b"new eval", b"old eval"))
    with pytest.raises(LedgerError, match="damaged"):
        ledger.append("report", "Al", {"note": ""})
    assert ledger.path.read_bytes() == data.replace(b"new eval", b"old eval")


# ---------------------------------------------------------------- unfinished last line


def test_partial_tail_is_ignored_then_cut_off(tmp_path: Path) -> None:
    ledger = _small_ledger(tmp_path)
    before = ledger.path.read_bytes()
    next_line = before.split(b"\n")[0]  # any entry-shaped bytes will do
    for cut in (1, 7, len(next_line) // 2, len(next_line) - 1):
        ledger.path.write_bytes(before + next_line[:cut])
        result = ledger.verify()
        assert result.ok, result.message
        assert result.partial_tail and result.count == 4
        assert "unfinished" in result.message
        assert len(ledger.entries()) == 4
    entry = ledger.append("report", "Al", {"note": "after crash"})
    assert entry.seq == 5
    assert ledger.last_warning is not None and "unfinished" in ledger.last_warning
    assert ledger.path.read_bytes().startswith(before)
    assert ledger.verify().ok and not ledger.verify().partial_tail
    ledger.append("report", "Al", {"note": "no warning now"})
    assert ledger.last_warning is None


def test_whole_entry_missing_only_its_newline_is_uncommitted(tmp_path: Path) -> None:
    ledger = _small_ledger(tmp_path)
    data = ledger.path.read_bytes()
    ledger.path.write_bytes(data[:-1])
    result = ledger.verify()
    assert result.ok and result.partial_tail and result.count == 3
    entry = ledger.append("report", "Al", {"note": ""})
    assert entry.seq == 4
    assert ledger.verify().ok


def test_partial_tail_in_an_otherwise_empty_file(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.path.write_bytes(b'{"actor":"Al","ha')
    assert ledger.verify().ok and ledger.entries() == []
    assert ledger.append("report", "Al", {"note": ""}).seq == 1
    assert ledger.verify().ok


def test_partial_tail_cut_inside_a_multibyte_character(tmp_path: Path) -> None:
    ledger = _small_ledger(tmp_path)
    before = ledger.path.read_bytes()
    first = before.split(b"\n")[0]
    cut = first.index("Zoë".encode()) + 3  # between the two bytes of ë
    ledger.path.write_bytes(before + first[:cut])
    assert ledger.verify().ok
    assert ledger.append("report", "Al", {"note": ""}).seq == 5


@pytest.mark.parametrize("junk", [b"garbage", b"\x00\x00\x00", b"}"])
def test_junk_at_the_end_is_not_silently_deleted(tmp_path: Path, junk: bytes) -> None:
    ledger = _small_ledger(tmp_path)
    data = ledger.path.read_bytes() + junk
    ledger.path.write_bytes(data)
    result = ledger.verify()
    assert not result.ok and result.first_bad_seq == 5
    with pytest.raises(LedgerError, match="not appending"):
        ledger.append("report", "Al", {"note": ""})
    assert ledger.path.read_bytes() == data


# ---------------------------------------------------------------- write failures


def test_disk_full_mid_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = _small_ledger(tmp_path)
    before = ledger.path.read_bytes()
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(LedgerError) as info:
        ledger.append("report", "Al", {"note": "x"})
    monkeypatch.undo()
    message = str(info.value)
    assert str(ledger.path) in message and "free some space" in message
    assert "Nothing was recorded" in message
    assert ledger.path.read_bytes() == before
    assert ledger.verify().ok


def test_short_write_is_taken_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = _small_ledger(tmp_path)
    before = ledger.path.read_bytes()
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:10]))
    with pytest.raises(LedgerError, match="short write"):
        ledger.append("report", "Al", {"note": "x"})
    monkeypatch.undo()
    assert ledger.path.read_bytes() == before


def test_fsync_failure_takes_the_line_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = _small_ledger(tmp_path)
    before = ledger.path.read_bytes()
    real_fsync = os.fsync
    calls = {"n": 0}

    def failing_first(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_first)
    with pytest.raises(LedgerError, match="Input/output error"):
        ledger.append("report", "Al", {"note": "x"})
    monkeypatch.undo()
    assert ledger.path.read_bytes() == before


def test_read_only_filesystem_error_is_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger(tmp_path)
    real_open = os.open

    def refuse(path: Any, flags: int, mode: int = 0o777) -> int:
        if str(path).startswith(str(tmp_path)) and flags & (os.O_WRONLY | os.O_RDWR):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(LedgerError) as info:
        ledger.append("report", "Al", {"note": ""})
    message = str(info.value)
    assert "ledger.jsonl" in message and "Read-only file system" in message
    assert "writable" in message and "state_dir" in message


def test_read_only_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "state"
    ledger = _small_ledger(state)
    (state / "ledger.lock").unlink()
    os.chmod(state, 0o555)
    os.chmod(ledger.path, 0o444)
    try:
        probe = state / "probe"
        try:
            probe.touch()
        except PermissionError:
            pass
        else:
            probe.unlink()
            pytest.skip("chmod does not restrict this user (root?)")
        with pytest.raises(LedgerError) as info:
            ledger.append("report", "Al", {"note": ""})
        message = str(info.value)
        assert "ledger.jsonl" in message and "writable" in message
        # Reading and verifying still work on a read-only copy (an audit).
        assert len(ledger.entries()) == 4
        assert ledger.verify().ok
    finally:
        os.chmod(state, 0o755)
        os.chmod(ledger.path, 0o644)


def test_state_dir_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("not a folder")
    with pytest.raises(LedgerError, match="Nothing was recorded"):
        Ledger(blocker).append("report", "Al", {"note": ""})


def test_lock_timeout(tmp_path: Path) -> None:
    import fcntl

    ledger = Ledger(tmp_path, lock_timeout=0.2)
    ledger.append("report", "Al", {"note": ""})
    fd = os.open(ledger.lock_path, os.O_RDWR)
    # A separate open file description conflicts even within this process.
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(LedgerError, match="lock"):
            ledger.append("report", "Al", {"note": ""})
    finally:
        os.close(fd)
    assert ledger.append("report", "Al", {"note": ""}).seq == 2


def test_hold_spans_a_check_and_its_append(tmp_path: Path) -> None:
    import threading

    ledger = Ledger(tmp_path, lock_timeout=0.2)
    outside: list[BaseException] = []

    def another_writer() -> None:
        try:
            Ledger(tmp_path, lock_timeout=0.2).append("report", "Bo", {"note": "late"})
        except LedgerError as exc:
            outside.append(exc)

    with ledger.hold():
        assert ledger.entries() == []  # reads and appends inside do not wait for themselves
        with ledger.hold():
            ledger.append("report", "Al", {"note": "first"})
        writer = threading.Thread(target=another_writer)
        writer.start()
        writer.join()
        assert [e.note for e in ledger.entries()] == ["first"]
    assert len(outside) == 1 and "lock" in str(outside[0])  # it waited, then gave up
    another_writer()
    assert [e.note for e in ledger.entries()] == ["first", "late"]


# ---------------------------------------------------------------- real processes


def _append_after_barrier(state_dir: str, barrier: Any, index: int, count: int) -> None:
    ledger = Ledger(Path(state_dir))
    barrier.wait()
    for round_ in range(count):
        ledger.append("report", f"writer {index}", {"note": f"{index}/{round_}"})


@pytest.mark.parametrize(("processes", "each"), [(20, 1), (8, 10)])
def test_concurrent_appends_from_real_processes(tmp_path: Path, processes: int, each: int) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(processes)
    workers = [
        ctx.Process(target=_append_after_barrier, args=(str(tmp_path), barrier, i, each))
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    ledger = Ledger(tmp_path)
    result = ledger.verify()
    assert result.ok, result.message
    assert result.count == processes * each
    notes = sorted(e.note for e in ledger.entries())
    assert notes == sorted(f"{i}/{r}" for i in range(processes) for r in range(each))


CRASH_WRITER = """
import sys
from pathlib import Path
from retrain_gate.decisions.ledger import Ledger

ledger = Ledger(Path(sys.argv[1]))
big = int(sys.argv[2])
i = 0
while True:
    i += 1
    # Every few entries is large, so SIGKILL can land in the middle of its write.
    size = big if i % 4 == 0 else i % 200
    entry = ledger.append("report", "crash tester", {"note": str(i), "blob": "é" * size})
    sys.stdout.write(f"{entry.seq} {entry.hash}\\n")
    sys.stdout.flush()
"""


def _crash_once(state_dir: Path, script: Path, rng: random.Random) -> list[tuple[int, str]]:
    big = rng.choice([0, 30_000, 400_000])
    proc = subprocess.Popen(
        [sys.executable, str(script), str(state_dir), str(big)],
        stdout=subprocess.PIPE,
        env=_env(),
    )
    assert proc.stdout is not None
    try:
        # Wait for the first append to return, then kill at a random moment after it.
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "writer did not start"
        time.sleep(rng.uniform(0, 0.15))
    finally:
        proc.send_signal(signal.SIGKILL)
        out = proc.stdout.read()
        proc.wait()
    pairs = [line.split() for line in out.decode().splitlines()]
    return [(int(seq), digest) for seq, digest in pairs]


def _crash_loop(tmp_path: Path, iterations: int, seed: int, per_ledger: int = 25) -> None:
    script = tmp_path / "writer.py"
    script.write_text(CRASH_WRITER)
    rng = random.Random(seed)
    for start in range(0, iterations, per_ledger):
        # A fresh ledger now and then keeps each verify cheap in the long run.
        state_dir = tmp_path / f"state{start}"
        ledger = Ledger(state_dir)
        acknowledged: dict[int, str] = {}
        for _ in range(min(per_ledger, iterations - start)):
            printed = _crash_once(state_dir, script, rng)
            assert printed, "writer was killed before its first append returned"
            for seq, digest in printed:
                # A seq acknowledged twice would mean an acknowledged entry was overwritten.
                assert seq not in acknowledged
                acknowledged[seq] = digest
            result = ledger.verify()
            assert result.ok, result.message
            present = {e.seq: e.hash for e in ledger.entries()}
            lost = {seq for seq, digest in acknowledged.items() if present.get(seq) != digest}
            assert not lost, f"entries whose append returned were lost: {sorted(lost)}"
        final = ledger.append("report", "after", {"note": "end"})
        assert final.seq == ledger.verify().count
        assert ledger.verify().ok
        shutil.rmtree(state_dir)


def test_kill_9_during_appends_loses_nothing(tmp_path: Path) -> None:
    _crash_loop(tmp_path, iterations=4, seed=1)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_kill_9_during_appends_loses_nothing_many_times(tmp_path: Path) -> None:
    _crash_loop(tmp_path, iterations=300, seed=2)


KILL_MID_WRITE = """
import os, signal, sys
from pathlib import Path
from retrain_gate.decisions import ledger as ledger_mod

real_write = os.write
stage = sys.argv[2]

def dying_write(fd, data):
    if stage == "half":
        real_write(fd, data[: len(data) // 2])
    else:
        real_write(fd, data)
    os.kill(os.getpid(), signal.SIGKILL)

ledger = ledger_mod.Ledger(Path(sys.argv[1]))
ledger_mod.os.write = dying_write
ledger.append("report", "doomed", {"note": "never returned"})
"""


@pytest.mark.parametrize("stage", ["half", "whole_before_fsync"])
def test_kill_inside_write(tmp_path: Path, stage: str) -> None:
    state_dir = tmp_path / "state"
    _small_ledger(state_dir)
    script = tmp_path / "die.py"
    script.write_text(KILL_MID_WRITE)
    proc = subprocess.run(
        [sys.executable, str(script), str(state_dir), stage], env=_env(), check=False
    )
    assert proc.returncode == -signal.SIGKILL
    ledger = Ledger(state_dir)
    result = ledger.verify()
    assert result.ok, result.message
    # Half a line is not an entry; a whole line (killed before fsync) is kept: it is complete.
    assert result.count == (4 if stage == "half" else 5)
    assert result.partial_tail == (stage == "half")
    entry = ledger.append("report", "survivor", {"note": ""})
    assert entry.seq == result.count + 1
    assert ledger.verify().ok


# ---------------------------------------------------------------- who and from where


def test_the_os_user_is_the_real_uid_whatever_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pwd

    me = pwd.getpwuid(os.getuid()).pw_name
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(name, f"not-{me}")
    assert ledger_mod.os_user() == me
    entry = Ledger(tmp_path).append("report", "Ana", {"note": "drift"})
    assert entry.os_user == me


def test_a_browser_session_records_that_it_came_from_the_browser(tmp_path: Path) -> None:
    import shlex

    from retrain_gate.cli import build_parser
    from retrain_gate.serve import tui_command

    # What `serve` starts for each browser session asks for exactly this.
    argv = shlex.split(tui_command(tmp_path / "config.toml"))
    assert build_parser().parse_args(argv[argv.index("tui") :]).via_browser
    ledger = Ledger(tmp_path)
    local = ledger.append("report", "Ana", {"note": "drift"})
    try:
        ledger_mod.record_via(ledger_mod.VIA_BROWSER)
        browser = ledger.append("ack", "Ana", {"alert_keys": ["report:1"]})
    finally:
        ledger_mod.record_via(None)
    assert "via" not in local.payload
    assert browser.payload["via"] == "browser"  # in the payload: the hash covers it
    assert ledger.verify().ok
    who = f"{browser.os_user}@{browser.host}"
    assert entry_line(browser).split(" · ")[3] == f"{who} via the browser"
    assert f"Ana ({who} via the browser) acknowledged" in news_line(browser)
    assert entry_line(local).split(" · ")[3] == f"{local.os_user}@{local.host}"


# ---------------------------------------------------------------- human state


def _entry(seq: int, kind: str, actor: str, payload: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        seq=seq,
        ts=f"2025-01-{seq:02d}T10:00:00Z",
        kind=kind,  # type: ignore[arg-type]
        actor=actor,
        os_user="u",
        host="h",
        payload=payload,
        prev_hash=GENESIS_HASH,
        hash="f" * 64,
    )


def _approval(seq: int, actor: str, episodes: list[list[str]], **extra: Any) -> LedgerEntry:
    payload: dict[str, Any] = {
        "approved_episodes": episodes,
        "eval_hash": None,
        "ended_alert_keys": [],
        "figures": {"delta_episodes": len(episodes)},
        "note": "",
        "override": False,
        "manifest": f"approvals/{seq:04d}.csv",
    }
    payload.update(extra)
    return _entry(seq, "approval", actor, payload)


def test_human_state_of_nothing() -> None:
    assert human_state([]) == HumanState()


def test_human_state_derivation() -> None:
    entries = [
        _entry(1, "pin", "Pat", {"eval_hash": "h1", "note": "initial"}),
        _entry(2, "report", "Rae", {"note": "worse boxes"}),
        _approval(
            3,
            "Ann",
            [["pick", "e1"], ["pick", "e2"]],
            eval_hash="h2",
            ended_alert_keys=["statistics:v1->v2", "report:2"],
        ),
        _entry(4, "ack", "Ack1", {"alert_keys": ["statistics:v2->v3", "report:5"], "note": "seen"}),
        _entry(5, "report", "Rae", {"note": "still worse"}),
        _approval(
            6, "Ben", [["pick", "e2"], ["place", "e9"]], ended_alert_keys=["statistics:v1->v2"]
        ),
        _entry(7, "report", "Sam", {"note": "v3 misses cups"}),
        _entry(8, "ack", "Ack2", {"alert_keys": ["statistics:v2->v3"], "note": "again"}),
    ]
    state = human_state(entries)
    assert state.approved_episodes == [("pick", "e1"), ("pick", "e2"), ("place", "e9")]
    assert state.approvals == 2
    assert state.last_approval_seq == 6
    assert state.last_approval_at == "2025-01-06T10:00:00Z"
    # The approval at 6 carried no eval hash, so the pin stays the one from approval 3.
    assert state.pin == Pin(hash="h2", by="Ann", at="2025-01-03T10:00:00Z", kind="approval")
    assert state.ended_alert_keys == ["statistics:v1->v2", "report:2"]
    assert state.open_reports == [
        RegressionReport(seq=7, by="Sam", at="2025-01-07T10:00:00Z", note="v3 misses cups")
    ]
    assert state.acks == [
        Ack(alert_key="report:5", by="Ack1", at="2025-01-04T10:00:00Z", note="seen"),
        Ack(alert_key="statistics:v2->v3", by="Ack2", at="2025-01-08T10:00:00Z", note="again"),
    ]


def test_pin_after_approval_wins_and_order_is_by_seq() -> None:
    entries = [
        _entry(2, "pin", "Pat", {"eval_hash": "h9", "note": ""}),
        _approval(1, "Ann", [], eval_hash="h1"),
    ]
    state = human_state(entries)
    assert state.pin == Pin(hash="h9", by="Pat", at="2025-01-02T10:00:00Z", kind="pin")


def test_human_state_from_a_real_ledger(tmp_path: Path) -> None:
    ledger = _small_ledger(tmp_path)
    state = human_state(ledger.entries())
    assert state.approved_episodes == [("pick_cube", "ep_001"), ("stack", "ep_7")]
    assert state.pin is not None and state.pin.kind == "pin" and state.pin.by == "Alice"
    assert [r.note for r in state.open_reports] == ["boxes drift"]
    assert [a.by for a in state.acks] == ["李"]


@pytest.mark.parametrize(
    "entry",
    [
        _approval(1, "Ann", [["only-one"]]),
        _approval(1, "Ann", [], ended_alert_keys="statistics:a->b"),
        _approval(1, "Ann", [], eval_hash=7),
        _entry(1, "pin", "Pat", {"note": "no hash"}),
        _entry(1, "ack", "Al", {"alert_keys": [1, 2]}),
    ],
)
def test_malformed_payload_is_a_ledger_error(entry: LedgerEntry) -> None:
    with pytest.raises(LedgerError, match="ledger entry 1"):
        human_state([entry])


# ---------------------------------------------------------------- export


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain = fine", "plain = fine"),
        ("", ""),
        (None, ""),
        (3, "3"),
    ],
)
def test_csv_cell(value: object, expected: str) -> None:
    assert csv_cell(value) == expected


def test_entries_to_csv_escapes_typed_text(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.append("report", "=cmd|' /C calc'!A0", {"note": "+danger"})
    ledger.append("ack", "Al", {"alert_keys": ["k"], "note": "-1 fine"})
    out = io.StringIO()
    entries_to_csv(ledger.entries(), out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == 2
    assert rows[0]["name"] == "'=cmd|' /C calc'!A0"
    assert rows[0]["reason"] == "'+danger"
    assert rows[1]["reason"] == "'-1 fine"
    assert rows[0]["seq"] == "1" and rows[0]["kind"] == "report"
    assert json.loads(rows[1]["payload"]) == {"alert_keys": ["k"], "note": "-1 fine"}
    for row in rows:
        assert all(not cell.startswith(("=", "+", "-", "@")) for cell in row.values())


def test_json_exports(tmp_path: Path) -> None:
    ledger = _small_ledger(tmp_path)
    entries = ledger.entries()
    as_json = entries_to_json(entries)
    assert json.loads(json.dumps(as_json)) == as_json
    assert [item["seq"] for item in as_json] == [1, 2, 3, 4]
    # `ledger --json` is every entry exactly as stored: written back one canonical line
    # each, it is the ledger byte for byte, and verifies.
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "ledger.jsonl").write_bytes(b"".join(canonical_json(e) + b"\n" for e in as_json))
    assert (copy / "ledger.jsonl").read_bytes() == ledger.path.read_bytes()
    assert Ledger(copy).verify().ok


def test_verify_counts_entries_and_bytes_in_words(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.append("report", "Kim", {"note": "worse"})
    assert ledger.verify().message == f"{ledger.path}: 1 entry verified"
    with ledger.path.open("ab") as handle:
        handle.write(b"{")  # an append cut after its first byte
    assert ledger.verify().message == (
        f"{ledger.path}: 1 entry verified; the last byte is an unfinished line from an "
        "interrupted write, not an entry (the next append removes it)"
    )
    with ledger.path.open("ab") as handle:
        handle.write(b'"s')
    assert "; the last 3 bytes are an unfinished line" in ledger.verify().message
    ledger.append("report", "Ana", {"note": "also worse"})
    assert ledger.verify().message == f"{ledger.path}: 2 entries verified"
    with ledger.path.open("ab") as handle:
        handle.write(b"x")
    assert ledger.verify().message.endswith("the file ends in 1 byte that is not a ledger entry")


# ---------------------------------------------------------------- the words people read


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"note": "drift", "decision": "READY", "reason": "ready"}, "drift"),
        ({"note": "", "decision": "READY", "reason": "ready"}, "(no note; the gates said READY)"),
        (
            {"decision": "REGRESSION", "reason": "regression: m2 needs 1.84 corrections"},
            "(no note; the gates said REGRESSION, m2 needs 1.84 corrections)",
        ),
        (
            {"decision": "WAIT", "reason": "need 10% delta, have 6%"},
            "(no note; the gates said WAIT, need 10% delta, have 6%)",
        ),
        (
            {"decision": "WAIT", "reason": "x", "requested_by": "Kim", "request_note": "demo"},
            "(no note; confirms the request by Kim: demo)",
        ),
        ({}, "(no note)"),
    ],
)
def test_an_approval_without_a_note_says_why_once(payload: dict[str, Any], expected: str) -> None:
    entry = _entry(1, "approval", "Ana", payload)
    assert entry.reason == expected
    assert entry_line(entry).split(" · ")[4] == f"reason: {expected}"


def test_a_decline_says_what_the_gates_said_once() -> None:
    entry = _entry(1, "decline", "Ana", {"note": "no GPUs", "decision": "READY", "reason": "ready"})
    assert entry_line(entry).endswith("reason: no GPUs · the gates said READY")


@pytest.mark.parametrize(
    ("kind", "payload", "said"),
    [
        (
            "pin",
            {"eval_hash": "36989d10" + "0" * 56, "note": "eval v3 frozen"},
            "pinned the eval set at 36989d10: eval v3 frozen",
        ),
        (
            "approval",
            {
                "approved_episodes": [["a", "e1"]],
                "manifest": "approvals/s.csv",
                "decision": "READY",
                "reason": "ready",
                "note": "",
            },
            "approved a retrain of 1 episode → s.csv (no note; the gates said READY)",
        ),
        (
            "approval",
            {"approved_episodes": [], "override": True, "note": "same data"},
            "approved a retrain of 0 episodes, against WAIT (override): same data",
        ),
        (
            "request",
            {
                "approved_episodes": [["a", "e1"], ["b", "e2"]],
                "override": True,
                "note": "demo Friday",
            },
            "requested a retrain of 2 episodes against WAIT (needs a second approver): demo Friday",
        ),
        (
            "decline",
            {"decision": "READY", "reason": "ready", "note": "no GPUs"},
            "declined a retrain when the gates said READY: no GPUs",
        ),
        (
            "decline",
            {"declines_request": 3, "note": "not on a Friday"},
            "declined the retrain requested in #3: not on a Friday",
        ),
        (
            "ack",
            {"alert_keys": ["statistics:m1->m2"], "note": ""},
            "acknowledged the regression alert on m2 (against m1) (no note)",
        ),
        (
            "ack",
            {"alert_keys": ["report:2"], "note": "seen"},
            "acknowledged the regression reported in #2: seen",
        ),
        ("report", {"note": "hands look worse"}, "reported a regression: hands look worse"),
        (
            "pin",
            {"meaning": "froze the eval set", "eval_hash": "ab" * 32, "note": "v4"},
            "froze the eval set (at abababab): v4",
        ),
    ],
)
def test_each_news_line_is_one_sentence(kind: str, payload: dict[str, Any], said: str) -> None:
    # The dashboard's Activity and `watch` print this; a colon comes only before the note.
    line = news_line(_entry(1, kind, "Ana", payload))
    assert line == f"ledger #1: Ana (u@h) {said}"

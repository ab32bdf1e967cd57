"""Approvals an auditor accepts (issue 16): who may decide, what a decision means, what it is
bound to. The real CLI on small hand-made folders, and the core functions on the same data."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

from tests.lsbuild import write_export
from tests.test_cli import episode_tasks
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
    me = getpass.getuser()
    folder = make_project(
        tmp_path,
        "[approvals]\napprovers = ["
        f'{{ name = "Kim Park", os_user = "{me}" }}, {{ name = "Ana", os_user = "not-{me}" }}]\n',
    )
    refused = run("pin-eval", "--by", "Ana", "--note", "v1", cwd=folder)
    assert refused.returncode == 2
    assert f"only as the OS user not-{me}" in refused.stderr
    assert ledger_bytes(folder) == b""
    ok("pin-eval", "--by", "Kim Park", "--note", "v1", cwd=folder)


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

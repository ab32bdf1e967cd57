"""`check` begins reading the largest new export before its imports (readahead.py): the store
gets exactly what the ordinary read gives, and a read begun for anything else is let go.

Files here are small; `MIN_BYTES` is lowered so the real fork and pipe run on them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from bench import workloads
from retrain_gate import parallel, readahead
from retrain_gate.config import Config, load_config
from retrain_gate.engine import Engine
from retrain_gate.store import FrameStore


@pytest.fixture(autouse=True)
def small_files_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "available", lambda: sys.platform == "linux")
    yield
    readahead.close()


@pytest.fixture
def begun_splits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pid of every child a split started (by the read-ahead or by the loader)."""
    pids: list[int] = []
    real_start = parallel.Split.start.__func__  # type: ignore[attr-defined]

    def start(cls: type[parallel.Split], *args: object, **kwargs: object) -> parallel.Split | None:
        split = real_start(cls, *args, **kwargs)
        if split is not None and split._halves is not None:
            pids.append(split._halves._pid)
        return split

    monkeypatch.setattr(parallel.Split, "start", classmethod(start))
    return pids


def project(tmp_path: Path, *shapes: str) -> Config:
    """Generated exports and a config.toml for them (`config.source` is its path)."""
    exports = tmp_path / "exports"
    gen = workloads.generator()
    for number, shape in enumerate(shapes):
        params = dataclasses.replace(gen.Params(), frames=300 * (number + 1), days=1, seed=7)
        gen.generate(params, exports / shape, shape)
    path = tmp_path / "config.toml"
    path.write_text(
        '[paths]\nexport_dir = "exports"\nstate_dir = "state"\neval_set = "eval"\n'
        '[episodes]\nframes_field = "n_frames"\n',
        encoding="utf-8",
    )
    return load_config(path)


def start(config: Config) -> None:
    assert config.source is not None
    readahead.start(config.source)


def ordinary(config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FrameStore:
    """The same exports ingested with no read-ahead and in one process."""
    with monkeypatch.context() as patch:
        patch.setattr(parallel, "available", lambda: False)
        paths = config.paths.model_copy(update={"state_dir": tmp_path / "ordinary"})
        engine = Engine(config.model_copy(update={"paths": paths}))
        engine.refresh()
        return engine.store


def reaped(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_the_largest_new_export_is_read_ahead_and_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, begun_splits: list[int]
) -> None:
    config = project(tmp_path, "snapshot", "community")
    start(config)
    assert readahead._begun is not None
    largest = max(config.paths.export_dir.rglob("*.json"), key=lambda p: p.stat().st_size)
    assert readahead._begun.source.path == largest
    engine = Engine(config)
    engine.refresh()
    readahead.close()
    # the loader started a split of its own only for the other file
    assert len(begun_splits) == 2
    assert all(reaped(pid) for pid in begun_splits)
    want = ordinary(config, tmp_path, monkeypatch)
    assert_frame_equal(engine.store.frames(), want.frames())
    assert {k: v.sha256 for k, v in engine.store.registry().items()} == {
        k: v.sha256 for k, v in want.registry().items()
    }


def test_a_read_begun_for_a_file_that_is_not_asked_for_is_let_go(
    tmp_path: Path, begun_splits: list[int]
) -> None:
    config = project(tmp_path, "snapshot")
    start(config)
    assert readahead._begun is not None and len(begun_splits) == 1
    readahead.close()
    assert readahead._begun is None and reaped(begun_splits[0])


def test_a_file_that_changed_since_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, begun_splits: list[int]
) -> None:
    config = project(tmp_path, "community")
    (path,) = config.paths.export_dir.rglob("*.json")
    start(config)
    assert readahead._begun is not None
    tasks = json.loads(path.read_bytes())
    del tasks[-1]  # a new export written under the same name
    path.write_text(json.dumps(tasks), encoding="utf-8")
    engine = Engine(config)
    engine.refresh()
    readahead.close()
    assert len(begun_splits) == 2 and all(reaped(pid) for pid in begun_splits)
    assert engine.store.frames().height == ordinary(config, tmp_path, monkeypatch).frames().height
    assert engine.store.frames().height == len({(t.get("project"), t["id"]) for t in tasks})


def test_files_already_ingested_are_not_read_ahead(tmp_path: Path) -> None:
    config = project(tmp_path, "snapshot")
    Engine(config).refresh()
    start(config)
    assert readahead._begun is None


def test_a_twin_read_ahead_is_recognised(tmp_path: Path, begun_splits: list[int]) -> None:
    config = project(tmp_path, "snapshot")
    Engine(config).refresh()
    (path,) = config.paths.export_dir.rglob("*.json")
    shutil.copy(path, path.with_name("copy-" + path.name))
    start(config)
    assert readahead._begun is not None and readahead._begun.source.path.name.startswith("copy-")
    results, _report = Engine(config).refresh()
    assert [r.outcome for r in results] == ["duplicate"]


def test_check_reads_ahead_as_a_process(tmp_path: Path) -> None:
    """The real CLI: `check` with a 40 MB export begins the read before its imports, and its
    figures equal those of a check that cannot fork (one process, no read-ahead)."""
    gen = workloads.generator()
    exports = tmp_path / "exports"
    gen.generate(
        dataclasses.replace(gen.Params(), frames=16000, days=1, seed=3), exports, "community"
    )
    (path,) = exports.glob("*.json")
    assert path.stat().st_size >= 32 * 1024 * 1024  # parallel.MIN_BYTES, the real one here
    config = tmp_path / "config.toml"
    config.write_text(
        f'[paths]\nexport_dir = "{exports}"\nstate_dir = "{tmp_path / "state"}"\n', "utf-8"
    )
    run = (
        f"sys.argv = ['retrain-gate', 'check', '--json', '--config', {str(config)!r}]\n"
        "from retrain_gate.cli import run\n"
        "run()\n"
    )
    traced = (
        "import sys, retrain_gate.readahead as r\n"
        "real = r.take\n"
        "def take(*a):\n"
        "    split = real(*a)\n"
        "    print('taken' if split else 'not taken', file=sys.stderr)\n"
        "    return split\n"
        "r.take = take\n" + run
    )
    ahead = subprocess.run([sys.executable, "-c", traced], capture_output=True, text=True)
    assert ahead.returncode == 0, ahead.stderr
    assert "taken" in ahead.stderr and "not taken" not in ahead.stderr
    shutil.rmtree(tmp_path / "state")
    one = (
        "import threading, time, sys\n"  # a second thread: no fork, so no read-ahead
        "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n" + run
    )
    plain = subprocess.run([sys.executable, "-c", one], capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr
    assert json.loads(ahead.stdout) == json.loads(plain.stdout)


CONFIGS = [
    "",
    '[paths]\nexport_dir = "x/y"\nstate_dir = "~/state"\n',
    '[paths]\nexport_dir = "/abs/exports"\n[episodes]\nfield = "img"\nframes_field = "n"\n',
    "[corrections]\ntolerance = 1\n[limits]\nmax_export_mb = 50\n",
    '[episodes]\nframes_field = "image"\n[gates]\nmin_delta_fraction = 0.2\n',
]


@pytest.mark.parametrize("text", CONFIGS)
def test_the_guess_agrees_with_the_validated_config(tmp_path: Path, text: str) -> None:
    """The read-ahead reads its settings from the TOML without pydantic, with the defaults
    of config.py; a default that changes there must change here, or no read is ever used."""
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    guess = readahead.guess(path)
    assert guess is not None
    assert readahead.settings(guess) == readahead.settings(load_config(path))


def test_a_read_begun_with_other_settings_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, begun_splits: list[int]
) -> None:
    config = project(tmp_path, "snapshot")
    real_guess = readahead.guess

    def wrong(path: Path) -> readahead.Guess | None:
        found = real_guess(path)
        assert found is not None
        return dataclasses.replace(
            found, corrections=dataclasses.replace(found.corrections, tolerance=9.0)
        )

    monkeypatch.setattr(readahead, "guess", wrong)
    start(config)
    assert readahead._begun is not None
    engine = Engine(config)
    engine.refresh()
    readahead.close()
    assert len(begun_splits) == 2 and all(reaped(pid) for pid in begun_splits)
    want = ordinary(config, tmp_path, monkeypatch)
    assert_frame_equal(engine.store.frames(), want.frames())

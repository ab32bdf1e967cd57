"""Reading one export file: bytes, content hash, and parsed frames — in this process or another.

`load_export` is everything an ingest does before the merge. The CLI calls it directly. A
long-running shell (the TUI, `watch`) runs it in a worker process (`IsolatedLoader`): the JSON
decode is one C call that holds the GIL for the whole file, and in-process it would freeze
the dashboard for the length of a large export. Only the small frame table comes back.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from retrain_gate.config import Config
from retrain_gate.errors import ExportRefused
from retrain_gate.labelstudio.export import ParsedExport, read_columns, read_releasable
from retrain_gate.labelstudio.export import parsed as build_tables
from retrain_gate.labelstudio.format import Bytes, refuse_by_name
from retrain_gate.labelstudio.storage import is_storage_name

TaskProgress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class KnownContent:
    """Digests of ingested files of this file's size: a duplicate is recognised before it is
    parsed (only a file of the same size can have the same content)."""

    same_size_digests: frozenset[str]


@dataclass(frozen=True)
class Loaded:
    size: int
    mtime_ns: int
    digest: str  # "" when the file could not be read
    parsed: ParsedExport | None  # None for a refusal or a duplicate
    refusal: str | None = None
    # a file without an extension (a storage file): what it holds
    kind: Literal["export", "annotation", "task", "other"] = "export"
    # a per-annotation file: decoded (storage.AnnotationFile) when read in this process; from
    # the worker process, its bytes instead (its decoded task cannot be pickled), decoded again
    # by the caller: a few KB, validated already
    annotation: Any = None
    raw: bytes | None = None


# A storage file holds one task, and decoding one task makes Python objects of its regions:
# several times the file's size (a 1 GB file took 11 GB). Such a file is refused by name before
# it is read when that much memory is not free.
SINGLE_TASK_EXPANSION = 12

_ALWAYS_FITS = 64 * 2**20
_IN_WORKER = False  # set in the worker process (serve): what comes back must be picklable


def memory_refusal(size: int) -> str | None:
    """Why a one-task file of `size` bytes cannot be read now, or None."""
    need = size * SINGLE_TASK_EXPANSION
    if need <= _ALWAYS_FITS:  # the common case (a few KB) asks the system nothing
        return None
    available = available_memory()
    if available is None or need <= available:
        return None
    return (
        f"one task of {size / 2**20:,.0f} MB would take about {need / 2**30:,.1f} GB to read, "
        f"more than the {available / 2**30:,.1f} GB free; a Label Studio storage file holds "
        "one annotation or one task (a few KB): check what wrote it"
    )


def available_memory() -> int | None:
    """Bytes the system can give without swapping (MemAvailable), or None if it cannot tell."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def refusal_of(exc: BaseException, what: str) -> str:
    """Why a file is refused, from what its read raised: a bug, or a Rust panic raised through
    pyo3 (polars: a BaseException, not an Exception), costs one file, never the watcher or the
    state. Anything else (KeyboardInterrupt, SystemExit) goes on up."""
    if isinstance(exc, ExportRefused):
        return exc.reason
    if isinstance(exc, Exception):
        from retrain_gate.labelstudio.storage import StorageProblem

        if isinstance(exc, StorageProblem):  # the reader's own words for a bad file
            return str(exc)
        return f"retrain-gate could not read this {what} ({exc!r}); please report it"
    if type(exc).__name__ == "PanicException":
        return (
            f"the reader crashed on this file ({type(exc).__name__}: {str(exc)[:200]}); "
            "it is read again when it changes; please report it"
        )
    raise exc


def load_storage(path: Path, config: Config, size: int, mtime_ns: int) -> Loaded:
    """Read one file without an extension: a per-annotation storage file, a task-format one,
    or neither. Never raises for a bad file: it returns a refusal."""
    from retrain_gate.labelstudio.export import parse_export, read_file
    from retrain_gate.labelstudio.storage import Kind, StorageProblem, classify, read_annotation

    budget = memory_refusal(size)
    if budget is not None:
        return Loaded(size, mtime_ns, "", None, budget)
    try:
        raw, mtime_ns = read_file(path, config)
    except ExportRefused as exc:
        return Loaded(size, mtime_ns, "", None, exc.reason)
    size = len(raw)
    try:
        kind: Kind = "annotation"
        try:  # what nearly every such file is: decoded once, not classified first
            file = read_annotation(raw, path, mtime_ns, config)
        except (StorageProblem, RecursionError):
            kind = classify(raw)
            if kind == "annotation":  # one, but not a usable one: refused with the reason
                raise
        if kind == "annotation":
            if _IN_WORKER:
                return Loaded(size, mtime_ns, "", None, kind=kind, raw=bytes(raw))
            return Loaded(size, mtime_ns, "", None, kind=kind, annotation=file)
        if kind == "task":
            parsed = parse_export(raw, path, config, mtime_ns=mtime_ns)
            return Loaded(size, mtime_ns, "", parsed, kind=kind)
        return Loaded(size, mtime_ns, "", None, kind=kind)
    except BaseException as exc:
        refusal = refusal_of(exc, "file")
    return Loaded(size, mtime_ns, "", None, refusal, kind="other")


class _Digest:
    """sha256 of `data`, on a thread beside the parse (hashlib releases the GIL)."""

    def __init__(self, data: Bytes) -> None:
        self._data: Bytes | None = data
        self._digest = ""
        self._thread = threading.Thread(target=self._run, name="sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self._data is not None
        self._digest = hashlib.sha256(self._data).hexdigest()
        self._data = None

    def result(self) -> str:
        self._thread.join()
        return self._digest


def load_export(
    path: Path,
    config: Config,
    size: int,
    mtime_ns: int,
    known: KnownContent,
    progress: TaskProgress | None = None,
) -> Loaded:
    """Read, hash and parse one export (a file without an extension: `load_storage`).
    Never raises for a bad file: it returns a refusal."""
    if is_storage_name(path):
        return load_storage(path, config, size, mtime_ns)
    by_name = refuse_by_name(path)
    try:
        if by_name:
            raise ExportRefused(path, by_name)
        raw, mtime_ns = read_releasable(path, config)
    except ExportRefused as exc:
        return Loaded(size, mtime_ns, "", None, exc.reason)
    if known.same_size_digests:
        # A file of a size already ingested may be a twin: hashed first, so that a duplicate
        # costs only the hash.
        if progress:
            progress("hashing", 0, 1)
        digest = hashlib.sha256(raw).hexdigest()
        if digest in known.same_size_digests:
            return Loaded(len(raw), mtime_ns, digest, None)
        hasher = None
    else:
        hasher = _Digest(raw)

    def on_task(done: int, total: int) -> None:
        if progress:
            progress("reading tasks", done, total)

    size = len(raw)
    parsed: ParsedExport | None = None
    refusal = None
    try:
        columns = read_columns(
            raw, path, config, on_task, before_release=hasher.result if hasher else None
        )
        # The tables are built without the file's bytes in memory (the hasher lets go of its
        # reference when done): the columns hold copies of what they need.
        del raw
        parsed = build_tables(path, columns, config, (mtime_ns, path.name))
    except BaseException as exc:
        refusal = refusal_of(exc, "export")
    if hasher is not None:
        digest = hasher.result()
    return Loaded(size, mtime_ns, digest, parsed, refusal)


Loader = Callable[[Path, Config, int, int, KnownContent, TaskProgress | None], Loaded]


# Storage files up to this size are read in the calling process, not in the worker: far
# below any memory budget, and Label Studio writes tens of thousands of them.
IN_PROCESS_BYTES = 1 << 20


class IsolatedLoader:
    """`load_export` in one long-lived worker process (started on first use, or by `warm`).

    A plain child process (`python -m retrain_gate.loader`) speaking length-prefixed pickles
    over its stdin/stdout: unlike multiprocessing it needs no resource tracker and no file
    descriptor of ours, which a UI that has redirected stdout and stderr cannot spare.
    """

    def __init__(self, command: Sequence[str] | None = None) -> None:
        # Another command line only for tests: a worker that dies the way a real one can.
        self._command = list(command or (sys.executable, "-m", "retrain_gate.loader"))
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def worker_pid(self) -> int | None:
        """The worker's process id while it runs (None before its first use and once it died)."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def _worker(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                self._command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        return self._process

    def warm(self) -> None:
        """Start the worker now, so the first export does not wait for its imports."""
        with self._lock:
            self._worker()

    def __call__(
        self,
        path: Path,
        config: Config,
        size: int,
        mtime_ns: int,
        known: KnownContent,
        progress: TaskProgress | None = None,
    ) -> Loaded:
        if is_storage_name(path) and size <= IN_PROCESS_BYTES:
            # A storage file of a few KB: the round trip to the worker costs more than its
            # read, and its annotation is decoded here again anyway.
            return load_storage(path, config, size, mtime_ns)
        if progress:
            progress("reading (worker process)", 0, 1)
        with self._lock:
            worker = self._worker()
            try:
                assert worker.stdin is not None and worker.stdout is not None
                _send(worker.stdin, (path, config, size, mtime_ns, known))
                loaded = _receive(worker.stdout)
            except (OSError, EOFError, pickle.UnpicklingError):
                loaded = None
            if isinstance(loaded, Loaded):
                return loaded
            self._stop_worker()  # the next file gets a fresh worker
        return Loaded(
            size,
            mtime_ns,
            "",
            None,
            "the reader process died while reading this file (out of memory?); "
            "it is read again when the file changes",
        )

    def _stop_worker(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def close(self) -> None:
        with self._lock:
            process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()  # it holds no state: a file it was reading is read again later
            process.wait()


_LENGTH = struct.Struct("!Q")


def _send(stream: IO[bytes], value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise EOFError("the worker closed its output")
    (length,) = _LENGTH.unpack(header)
    data = stream.read(length)
    if len(data) < length:
        raise EOFError("the worker closed its output")
    return pickle.loads(data)


def serve() -> None:
    """The worker: one request at a time from stdin, one `Loaded` back on stdout."""
    # The protocol owns the real stdout; anything a library prints goes to stderr instead.
    global _IN_WORKER
    _IN_WORKER = True
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    # Background work: when the cores are busy, the dashboard that waits for keys goes first.
    with contextlib.suppress(OSError):
        os.nice(10)
    requests = sys.stdin.buffer
    while True:
        try:
            request: tuple[Path, Config, int, int, KnownContent] = _receive(requests)
        except EOFError:
            return
        _send(protocol, load_export(*request))


if __name__ == "__main__":
    # Through the imported module, so what is pickled back names `retrain_gate.loader`
    # classes, not `__main__` ones the parent cannot resolve.
    from retrain_gate.loader import serve as _serve

    _serve()

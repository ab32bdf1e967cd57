"""The ledger: an append-only, hash-chained record of human decisions (`ledger.jsonl`).

Every approval, eval-set pin, regression report and alert acknowledgement is one line of
canonical JSON. Each entry carries the sha256 of the previous one, so changing, inserting or
removing an entry in the middle without recomputing the hashes after it breaks the chain, and
`verify` names the first entry that no longer checks out. Gates are derived from the ledger
alone (`replay.human_state`).

Durability rules, which the crash tests exercise with SIGKILL:

* An entry is committed when its whole line, newline included, is on disk: `append` writes the
  line with one `write`, then `fsync`s before returning. An entry whose append returned is
  never lost.
* A writer killed mid-append can leave an unfinished last line. It was never committed (its
  append did not return), so readers ignore it and the next `append` cuts it off under the lock
  before writing. Bytes at the end that an interrupted write could not have produced (say a
  complete entry followed by junk) are not cut off: they are reported as tampering.
* Writers serialize on `flock` of a separate `ledger.lock`, so the ledger itself is only ever
  opened for appending, and the lock dies with its holder.

Limits: the chain catches accidental and partial edits, not someone with write access who
re-chains the file (edits entries and recomputes every hash after them) or appends a forged
entry with a correct hash. Against that, a hash kept where the ledger's writers cannot edit it
(`ledger head`, a decision's notification) is an anchor: `verify --anchor HASH` proves that the
entry with that hash, and every entry before it, is unchanged. `flock` on network filesystems
is only as good as the server's lock support.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import pwd
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from retrain_gate.decisions.names import validate_name
from retrain_gate.errors import LedgerError
from retrain_gate.text import beyond_decision, plural

logger = logging.getLogger(__name__)

# `request`: an approval against WAIT waiting for a second approver ([approvals]
# second_approver_for_override); `decline`: a lead looked at a READY gate and said "not now".
Kind = Literal["approval", "pin", "report", "ack", "decline", "request"]
KINDS: tuple[str, ...] = get_args(Kind)
GENESIS_HASH = "0" * 64
LEDGER_FILE = "ledger.jsonl"
LOCK_FILE = "ledger.lock"

_HEX64 = r"^[0-9a-f]{64}$"
_TAIL_CHUNK = 64 * 1024


# ---------------------------------------------------------------- entries and their encoding


def canonical_json(value: Any) -> bytes:
    """The one byte encoding of a JSON value that the ledger stores and hashes.

    NaN and infinities are refused: they are not JSON, and other tools would read them
    differently from Python.
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def entry_hash(body: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of an entry without its `hash` field."""
    return hashlib.sha256(
        canonical_json({k: v for k, v in body.items() if k != "hash"})
    ).hexdigest()


class LedgerEntry(BaseModel):
    """One recorded decision. `hash` covers every other field, `prev_hash` included."""

    # strict: an entry read back must have exactly the JSON types that were written, since a
    # coerced value ("3" for 3) would hash differently anyway and only confuse the message.
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    seq: int = Field(ge=1)
    ts: str
    kind: Kind
    actor: str
    os_user: str
    host: str
    payload: dict[str, Any]
    prev_hash: str = Field(pattern=_HEX64)
    hash: str = Field(pattern=_HEX64)

    @field_validator("ts")
    @classmethod
    def _utc_iso(cls, value: str) -> str:
        if not (value.endswith("Z") or value.endswith("+00:00")):
            raise ValueError("must be an ISO 8601 UTC time ending in Z or +00:00")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("must be an ISO 8601 UTC time") from None
        if parsed.utcoffset() != timedelta(0):
            raise ValueError("must be in UTC")
        return value

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def line(self) -> bytes:
        """The entry's line in the ledger, newline included."""
        return canonical_json(self.as_dict()) + b"\n"

    @property
    def note(self) -> str:
        note = self.payload.get("note", "")
        return note if isinstance(note, str) else ""

    @property
    def meaning(self) -> str:
        """What this signature means, in words: recorded in the entry (so the hash covers it)
        since issue 16; derived from the kind for entries written before."""
        meaning = self.payload.get("meaning")
        return meaning if isinstance(meaning, str) and meaning else MEANINGS[self.kind]

    @property
    def reason(self) -> str:
        """Why, in the decider's words; an approval without a note stood on the gates."""
        if self.note:
            return self.note
        if self.kind == "approval":
            requested, why = self.payload.get("requested_by"), self.payload.get("request_note")
            if isinstance(requested, str) and isinstance(why, str):
                return f"(no note; confirms the request by {requested}: {why})"
            decision, why = self.payload.get("decision"), self.payload.get("reason")
            if isinstance(decision, str) and isinstance(why, str):
                return f"(no note; {gates_said(decision, why)})"
        return "(no note)"


def gates_said(decision: str, reason: str) -> str:
    """What the gates said, recorded as a decision and its reason, saying the decision once."""
    rest = beyond_decision(decision, reason)
    return f"the gates said {decision}, {rest}" if rest else f"the gates said {decision}"


MEANINGS: dict[str, str] = {
    "approval": "approved a retrain",
    "decline": "declined a retrain",
    "request": "requested a retrain against WAIT (needs a second approver)",
    "pin": "pinned the eval set",
    "report": "reported a regression",
    "ack": "acknowledged an alert",
}


class VerifyResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    count: int  # entries that verified (all of them when ok)
    first_bad_seq: int | None = None  # entry N is on line N, so this is also its line number
    first_bad_line: int | None = None
    message: str
    partial_tail: bool = False  # an unfinished last line from an interrupted write (not an error)
    last_hash: str | None = None  # hash of the last verified entry: worth copying elsewhere


class _BadLine(Exception):
    """A line that is not a valid entry; the message says why."""


def _summarize_validation(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "entry"
    more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    return f"field {where}: {first['msg']}{more}"


def _parse_line(raw: bytes) -> LedgerEntry:
    """Parse and self-check one line (without its newline): form and hash, not the chain."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _BadLine("is not valid UTF-8") from None
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise _BadLine(f"is not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise _BadLine("is not a JSON object")
    try:
        entry = LedgerEntry.model_validate(obj)
    except ValidationError as exc:
        raise _BadLine(f"is not a ledger entry: {_summarize_validation(exc)}") from None
    try:
        canonical = canonical_json(obj)
    except ValueError as exc:
        raise _BadLine(f"holds a value that is not plain JSON ({exc})") from None
    # Without this, edits that keep the JSON equivalent (spacing, key order, escapes, 1.0 vs
    # 1.00) would slip through, and the file's bytes would no longer be the attested record.
    if canonical != raw:
        raise _BadLine("differs from the canonical form it was written in; it was edited")
    if entry_hash(obj) != entry.hash:
        raise _BadLine("does not match its hash; it was changed after it was written")
    return entry


def _check_link(entry: LedgerEntry, expected_seq: int, prev_hash: str) -> None:
    if entry.seq != expected_seq:
        raise _BadLine(f"has seq {entry.seq} where {expected_seq} was expected")
    if entry.prev_hash != prev_hash:
        raise _BadLine("does not link to the entry before it (prev_hash differs)")


def _tail_problem(tail: bytes, expected_seq: int, prev_hash: str) -> str | None:
    """None when `tail` (bytes after the last newline) can be an interrupted append, else why not.

    An interrupted write leaves a prefix of a canonical line: it starts with `{` and its first
    JSON object is incomplete, or is the whole entry with only the newline missing. Anything
    else (junk after a complete object, stray bytes) is not ours to delete.
    """
    if not tail:
        return None
    if not tail.startswith(b"{"):
        that = "that is" if len(tail) == 1 else "that are"
        return f"ends in {plural(len(tail), 'byte')} {that} not a ledger entry"
    # A cut can fall inside a multi-byte character; the replacement stays inside the string.
    text = tail.decode("utf-8", errors="replace")
    try:
        _, end = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return None
    if end != len(text):
        return "ends in an entry followed by extra bytes instead of a newline"
    try:
        entry = _parse_line(tail)
        _check_link(entry, expected_seq, prev_hash)
    except _BadLine as exc:
        return f"ends in a line without a newline that {exc}"
    return None


def _split(data: bytes) -> tuple[list[bytes], bytes]:
    """Complete lines (without newlines) and the bytes after the last newline."""
    *lines, tail = data.split(b"\n")
    return lines, tail


# ---------------------------------------------------------------- who and when


def os_user() -> str:
    """The login name of the process's real uid, or `uid:N` where the system has no name for it.

    Never `LOGNAME` or `USER` (which `getpass.getuser` reads first): anyone can set them, and
    `[approvals]` lets a name decide only from the OS user it is tied to.
    """
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


# Where this process's decisions come from, when not from its own terminal: "browser" for a
# dashboard that `serve` started for a browser session. A process-wide fact, like `os_user`;
# recorded in each entry's payload as `via`, so the hash covers it.
_via: str | None = None
VIA_BROWSER = "browser"


def record_via(via: str | None) -> None:
    """Record every later entry of this process as made through `via` (None: locally)."""
    global _via
    _via = via


def host() -> str:
    try:
        return socket.gethostname() or "unknown-host"
    except OSError:
        return "unknown-host"


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------- the ledger file


def _pread_exact(fd: int, length: int, offset: int) -> bytes:
    parts: list[bytes] = []
    while length > 0:
        chunk = os.pread(fd, length, offset)
        if not chunk:
            break
        parts.append(chunk)
        length -= len(chunk)
        offset += len(chunk)
    return b"".join(parts)


def _read_tail(fd: int, size: int) -> tuple[int, bytes | None, bytes]:
    """(end of committed data, last complete line or None, bytes after it), reading backwards.

    Appends stay cheap however long the ledger grows: only the last line is read.
    """
    start = size
    buf = b""
    chunk = _TAIL_CHUNK
    while True:
        last_nl = buf.rfind(b"\n")
        if last_nl != -1:
            prev_nl = buf.rfind(b"\n", 0, last_nl)
            if prev_nl != -1 or start == 0:
                return start + last_nl + 1, buf[prev_nl + 1 : last_nl], buf[last_nl + 1 :]
        elif start == 0:
            return 0, None, buf
        step = min(chunk, start)
        start -= step
        buf = _pread_exact(fd, step, start) + buf
        chunk *= 2


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Ledger:
    """The ledger of one state folder. Cheap to create; holds no open files between calls."""

    def __init__(self, state_dir: Path, *, lock_timeout: float = 30.0) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / LEDGER_FILE
        self.lock_path = self.state_dir / LOCK_FILE
        self.lock_timeout = lock_timeout
        # Set by `append` when it had to cut off an unfinished line; also logged.
        self.last_warning: str | None = None
        # The thread inside `hold`: its reads and appends already have the lock.
        self._holder: int | None = None

    # -------------------------------------------------------------- errors

    def _write_error(self, exc: OSError, what: str) -> LedgerError:
        reason = exc.strerror or str(exc)
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            advice = (
                f"make {self.state_dir} writable for user {os_user()}, "
                "or point [paths] state_dir at a writable folder"
            )
        elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
            advice = f"free some space on the disk holding {self.state_dir} and try again"
        else:
            advice = f"check that {self.state_dir} is a folder this user can write"
        return LedgerError(
            f"cannot {what} the ledger {self.path}: {reason}; {advice}. Nothing was recorded."
        )

    # -------------------------------------------------------------- locking

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the writers' lock across a decision: what it checks in the ledger and the entry
        it then appends. Without it, two approvals at once each see the other's episodes as
        still unapproved, and both record them. Re-entrant in the holding thread; another
        thread or process waits (up to `lock_timeout`)."""
        if self._holder == threading.get_ident():
            yield
            return
        self._make_folder()
        with self._locked(exclusive=True):
            self._holder = threading.get_ident()
            try:
                yield
            finally:
                self._holder = None

    @contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        """Hold `ledger.lock`. Readers lock only when they can: a read-only copy of a state
        folder (an audit) must still be readable and verifiable."""
        if self._holder == threading.get_ident():
            yield  # inside `hold`: the exclusive lock covers this read or append
            return
        flags = os.O_RDWR | os.O_CREAT if exclusive else os.O_RDONLY
        try:
            fd = os.open(self.lock_path, flags | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exclusive:
                raise self._write_error(exc, "lock") from exc
            yield
            return
        try:
            self._acquire(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            # Closing the descriptor releases the flock.
            os.close(fd)

    def _acquire(self, fd: int, operation: int) -> None:
        # Polling rather than a blocking flock so that a stuck holder (a hung network mount)
        # surfaces as an error instead of freezing the TUI.
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, operation | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LedgerError(
                        f"the ledger lock {self.lock_path} has been held by another process "
                        f"for over {self.lock_timeout:g} s; if no other retrain-gate is "
                        "running, check the disk, then try again"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    # -------------------------------------------------------------- reading

    def _read_all(self) -> bytes:
        try:
            with self._locked(exclusive=False):
                return self.path.read_bytes()
        except FileNotFoundError:
            return b""
        except OSError as exc:
            raise LedgerError(f"cannot read the ledger {self.path}: {exc.strerror or exc}") from exc

    def entries(self) -> list[LedgerEntry]:
        """All committed entries in order. An unfinished last line is ignored.

        Each line must be a well-formed, self-consistent entry (else `LedgerError`); the chain
        itself is `verify`'s job.
        """
        lines, _tail = _split(self._read_all())
        out: list[LedgerEntry] = []
        for number, raw in enumerate(lines, start=1):
            try:
                out.append(_parse_line(raw))
            except _BadLine as exc:
                raise LedgerError(
                    f"{self.path}: line {number} {exc}; run `retrain-gate ledger verify` and "
                    "restore the file from a backup"
                ) from None
        return out

    def verify(self) -> VerifyResult:
        """Check every line: JSON, canonical bytes, hash, seq continuity and prev_hash links."""
        data = self._read_all()
        if not data:
            return VerifyResult(ok=True, count=0, message=f"{self.path}: no entries yet")
        lines, tail = _split(data)
        prev_hash = GENESIS_HASH
        for number, raw in enumerate(lines, start=1):
            try:
                entry = _parse_line(raw)
                _check_link(entry, number, prev_hash)
            except _BadLine as exc:
                return self._bad(number, f"entry {number} (line {number}) {exc}", prev_hash)
            prev_hash = entry.hash
        count = len(lines)
        last_hash = prev_hash if count else None
        problem = _tail_problem(tail, count + 1, prev_hash)
        if problem is not None:
            return self._bad(
                count + 1, f"entry {count + 1} (line {count + 1}): the file {problem}", prev_hash
            )
        message = f"{self.path}: {plural(count, 'entry', 'entries')} verified"
        if tail:
            last = "the last byte is" if len(tail) == 1 else f"the last {len(tail):,} bytes are"
            message += (
                f"; {last} an unfinished line from an interrupted write, not an entry "
                "(the next append removes it)"
            )
        return VerifyResult(
            ok=True, count=count, message=message, partial_tail=bool(tail), last_hash=last_hash
        )

    def _bad(self, number: int, detail: str, prev_hash: str) -> VerifyResult:
        return VerifyResult(
            ok=False,
            count=number - 1,
            first_bad_seq=number,
            first_bad_line=number,
            message=f"{self.path}: {detail}",
            last_hash=prev_hash if number > 1 else None,
        )

    # -------------------------------------------------------------- writing

    def append(self, kind: str, actor: str, payload: Mapping[str, Any]) -> LedgerEntry:
        """Record one decision durably and return it. `ValueError` for a bad kind, name or
        payload; `LedgerError` when it cannot be written (then nothing was recorded)."""
        if kind not in KINDS:
            raise ValueError(f"unknown ledger entry kind {kind!r}; expected one of {KINDS}")
        actor = validate_name(actor)
        if not isinstance(payload, Mapping):
            raise ValueError("payload must be a JSON object")
        try:
            # Round-trip so the returned entry is exactly what a reader will get back
            # (tuples become lists, and so on).
            normalized = json.loads(canonical_json(dict(payload)))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"payload cannot be recorded as JSON: {exc}") from exc
        self.last_warning = None
        self._make_folder()
        with self._locked(exclusive=True):
            return self._append_locked(kind, actor, normalized)

    def _make_folder(self) -> None:
        created_dir = not self.state_dir.exists()
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            if created_dir:
                _fsync_dir(self.state_dir.parent)
        except OSError as exc:
            raise self._write_error(exc, "create the folder for") from exc

    def _open_for_append(self) -> tuple[int, bool]:
        flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
        try:
            try:
                return os.open(self.path, flags | os.O_CREAT | os.O_EXCL, 0o644), True
            except FileExistsError:
                return os.open(self.path, flags), False
        except OSError as exc:
            raise self._write_error(exc, "open") from exc

    def _append_locked(self, kind: str, actor: str, payload: dict[str, Any]) -> LedgerEntry:
        fd, created = self._open_for_append()
        try:
            if created:
                try:
                    _fsync_dir(self.state_dir)
                except OSError as exc:
                    raise self._write_error(exc, "create") from exc
            committed_end, last = self._prepare(fd)
            body: dict[str, Any] = {
                "seq": last.seq + 1 if last else 1,
                "ts": utc_now_iso(),
                "kind": kind,
                "actor": actor,
                "os_user": os_user(),
                "host": host(),
                "payload": payload if _via is None else payload | {"via": _via},
                "prev_hash": last.hash if last else GENESIS_HASH,
            }
            entry = LedgerEntry.model_validate({**body, "hash": entry_hash(body)})
            self._write_line(fd, entry.line(), committed_end)
            return entry
        finally:
            os.close(fd)

    def _prepare(self, fd: int) -> tuple[int, LedgerEntry | None]:
        """The end of the committed data and the last entry; cuts off an unfinished line."""
        try:
            size = os.fstat(fd).st_size
            committed_end, last_line, tail = _read_tail(fd, size)
        except OSError as exc:
            raise LedgerError(f"cannot read the ledger {self.path}: {exc.strerror or exc}") from exc
        last = None
        if last_line is not None:
            try:
                last = _parse_line(last_line)
            except _BadLine as exc:
                raise LedgerError(
                    f"{self.path}: the last entry {exc}; not appending to a damaged ledger. "
                    "Run `retrain-gate ledger verify` and restore the file from a backup."
                ) from None
        if not tail:
            return committed_end, last
        expected_seq, prev_hash = (last.seq + 1, last.hash) if last else (1, GENESIS_HASH)
        problem = _tail_problem(tail, expected_seq, prev_hash)
        if problem is not None:
            raise LedgerError(
                f"{self.path}: the file {problem}; not appending. An interrupted write cannot "
                "leave this, so the file was changed: run `retrain-gate ledger verify` and restore "
                "it from a backup."
            )
        try:
            os.ftruncate(fd, committed_end)
            os.fsync(fd)
        except OSError as exc:
            raise self._write_error(exc, "repair") from exc
        self.last_warning = (
            f"{self.path}: removed an unfinished last line ({plural(len(tail), 'byte')}) left "
            "by an interrupted write; it was never a recorded entry"
        )
        logger.warning(self.last_warning)
        return committed_end, last

    def _write_line(self, fd: int, line: bytes, committed_end: int) -> None:
        try:
            # One write of the whole line: a reader or a crash sees either nothing, the whole
            # line, or a prefix of it, never interleaved with another writer (we hold the lock).
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(errno.ENOSPC, "short write (is the disk full?)")
            os.fsync(fd)
        except BaseException as exc:
            # Not durable, so not recorded: take back whatever reached the file. If even that
            # fails, the unfinished line is removed by the next append, or, if it happens to be
            # whole, it stays as a valid (if unconfirmed) entry.
            try:
                os.ftruncate(fd, committed_end)
                os.fsync(fd)
            except OSError:
                pass
            if isinstance(exc, OSError):
                raise self._write_error(exc, "write to") from exc
            raise

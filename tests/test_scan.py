"""The C scanner (`retrain_gate._scan`, through `exports.scanned_columns`) against the ordinary
path (`decode_tasks` then `task_columns`).

Contract: when `scanned_columns(raw, config)` returns a value, it is exactly
`(task_columns(decode_tasks(raw, ...), config), len(tasks))`: the same keys, the same values and
the same Python types (True is not 1, a str is not bytes, None stays None). It returns None
whenever the ordinary path must decide, never returns columns for bytes the ordinary path
refuses, and never raises. None is always allowed here; only the real Label Studio exports and
the generator's exports must be read by the scanner itself.

`scanned_columns` is imported lazily (the `scan` fixture), so this file collects before the
wrapper exists; every test but one then fails rather than skips. The default run is short;
`-m slow` runs long.
"""

from __future__ import annotations

import dataclasses
import json
import math
import mmap
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from bench import workloads
from retrain_gate import parallel
from retrain_gate.config import Config
from retrain_gate.errors import ExportRefused
from retrain_gate.exports import TaskProblem, decode_tasks, task_columns
from tests.test_fuzz import JSON_ANY, annotation, broken_export, ls_task, prediction, region

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
LS_REAL = DATA / "ls_real"
SAMPLES = ROOT.parent / "shared" / "ls-samples"  # as tests/test_ls_samples.py finds them
PATH = Path("scanned.json")  # only named in refusal messages

Scan = Callable[[Any, Config], Any]
Columns = dict[str, list[Any]]

CONFIGS = {
    "default": Config(),
    "frames_field": Config.model_validate({"episodes": {"frames_field": "n_frames"}}),
    "frames_is_field": Config.model_validate({"episodes": {"frames_field": "image"}}),
    # non-ASCII key names (matched after unescaping) and a zero tolerance
    "unicode_keys": Config.model_validate(
        {"episodes": {"field": "bild_ü", "frames_field": "n_é"}, "corrections": {"tolerance": 0}}
    ),
}
configs = st.sampled_from(list(CONFIGS.values()))


@pytest.fixture(scope="module")
def scan() -> Scan:
    # Not importorskip: until the wrapper exists these tests must fail, not skip.
    from retrain_gate.exports import scanned_columns

    return scanned_columns


# ---------------------------------------------------------------- reference and comparison


def ordinary(raw: bytes | bytearray | memoryview, config: Config) -> tuple[Columns, int] | str:
    """The ordinary path's answer, or "refused" where read_export would refuse the bytes.

    Any other exception is a bug of the ordinary path, not the scanner's business; it is
    returned as text, and the scanner must not return columns for those bytes either."""
    try:
        tasks = decode_tasks(bytes(raw), PATH, config)
        return task_columns(tasks, config), len(tasks)
    except (ExportRefused, TaskProblem, RecursionError):
        return "refused"
    except Exception as exc:
        return f"the ordinary path raised {exc!r}"


def strict_equal(a: Any, b: Any) -> bool:
    """Equal and of the same type all the way down (True != 1, 1.0 != 1, -0.0 != 0.0)."""
    if type(a) is not type(b):
        return False
    if type(a) is list:
        return len(a) == len(b) and all(map(strict_equal, a, b))
    if type(a) is dict:
        return a.keys() == b.keys() and all(strict_equal(a[key], b[key]) for key in a)
    if type(a) is float:
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return bool(a == b)


def _typed(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _difference(got: Any, want: tuple[Columns, int]) -> str | None:
    """Where `got` differs from the reference, in words; None when it is the same."""
    if type(got) is not tuple or len(got) != 2:
        return f"not a (columns, count) tuple: {_typed(got)[:500]}"
    columns, count = got
    want_columns, want_count = want
    if type(columns) is not dict:
        return f"columns are not a dict: {_typed(columns)[:500]}"
    if columns.keys() != want_columns.keys():
        return f"keys {sorted(columns)} != {sorted(want_columns)}"
    for name, want_values in want_columns.items():
        values = columns[name]
        if type(values) is not list:
            return f"column {name!r} is {_typed(values)[:300]}, not a list"
        if len(values) != len(want_values):
            return f"column {name!r} has {len(values)} entries, the reference {len(want_values)}"
        for index, (a, b) in enumerate(zip(values, want_values, strict=True)):
            if not strict_equal(a, b):
                return f"{name}[{index}]: scanner {_typed(a)}, ordinary {_typed(b)}"
    if not strict_equal(count, want_count):
        return f"count: scanner {_typed(count)}, ordinary {_typed(want_count)}"
    return None


def assert_same(scan: Scan, raw: Any, config: Config) -> tuple[Columns, int] | None:
    """Call the scanner on `raw` (bytes, bytearray or memoryview); None is always allowed,
    columns only when they are exactly the ordinary path's. Returns what the scanner gave."""
    before = bytes(raw)
    try:
        got = scan(raw, config)
    except Exception as exc:
        pytest.fail(f"scanned_columns raised {exc!r} on {before[:2000]!r}")
    assert bytes(raw) == before, "scanned_columns changed the bytes it was given"
    want = ordinary(before, config)
    if currently_in_test_context():  # hypothesis statistics
        event("scanner: " + ("None" if got is None else "columns"))
        event("ordinary: " + (want if isinstance(want, str) else "columns")[:60])
    if got is None:
        return None
    assert not isinstance(want, str), (
        f"the scanner returned columns, the ordinary path: {want}\nbytes: {before[:2000]!r}"
        f"\nscanner gave: {got!r}"[:4000]
    )
    difference = _difference(got, want)
    assert difference is None, (
        f"{difference}\nbytes: {before[:2000]!r}\nscanner: {got!r}\nordinary: {want!r}"[:6000]
    )
    return got


# ---------------------------------------------------------------- JSON text, written by hand


@dataclass(frozen=True)
class Obj:
    """A JSON object as written: keys in this order, possibly repeated (the last one wins)."""

    pairs: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Lit:
    """JSON text written as is (number spellings, lone surrogates, deep nesting)."""

    text: str
    value: Any  # what it stands for, for json.dumps


def _literal(text: str) -> Lit:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = None
    return Lit(text, value)


def _deep(depth: int) -> Lit:
    return Lit("[" * depth + "]" * depth, None)


# Every JSON spelling of a number; some are out of msgspec's range (1e400, 1.797...59e308),
# two underflow to 0.0, some are integers past 64 bits.
OUT_OF_RANGE = ["1.7976931348623159e308", "1e400", "-1e400"]
NUMBER_TEXTS = [
    *("-0", "0", "-0.0", "0.5e-3", "1E+2", "1e5", "1.0", "10", "1e1", "100e-1", "-1"),
    *("10.0000000000000001", "5E-324", "1e-400", "2.4e-324", "1.7976931348623157e308"),
    *("123456789012345678901234567890", "-9223372036854775809", "18446744073709551616"),
    *("9223372036854775808", "-0e0", "0E-0", "1" + "0" * 400),  # 10**400: float() overflows
    *OUT_OF_RANGE,
]
number_lits = st.sampled_from([_literal(text) for text in NUMBER_TEXTS])
in_range_lits = st.sampled_from([_literal(t) for t in NUMBER_TEXTS if t not in OUT_OF_RANGE])
# escapes, a surrogate pair, raw non-ASCII
string_lits = st.sampled_from(
    [_literal(text) for text in (r'"\ud83d\ude00"', r'"\u00e9\/\"\\"', r'"\u0000"', '"é😀"')]
)
# lone surrogates: msgspec refuses them anywhere, skipped keys included
bad_string_lits = st.sampled_from(
    [_literal(text) for text in (r'"\ud800"', r'"x\ud800y"', r'"\udc00"', r'"\uDBFF"')]
)
# 50 and 200 deep decode everywhere; 3000 and 20000 are refused (RecursionError) everywhere.
# In between, msgspec's limit depends on how deep the caller's Python stack is: not tested.
deep_lits = st.sampled_from([50, 200]).map(_deep)
too_deep_lits = st.sampled_from([3000, 20000]).map(_deep)

TEXTS = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from('"\\/\x00\x1f\t'),
    max_size=6,
)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXTS
    | number_lits
    | string_lits
)


def _values(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.lists(st.tuples(TEXTS, inner), max_size=3).map(lambda p: Obj(tuple(p)))
        ),
        max_leaves=5,
    )


# What unknown keys hold: any valid JSON value (numbers out of msgspec's range included: a
# skipped value is not converted).
EXTRA_VALUE = _values(LEAVES | deep_lits)
# Anything at all, where a typed value is expected (refusals, hand-overs to Python).
JSON_VALUE = _values(LEAVES | bad_string_lits | deep_lits | too_deep_lits)


@st.composite
def mostly(draw: st.DrawFn, valid: st.SearchStrategy[Any], odd: int) -> Any:
    """A valid value, or one time in `odd` any JSON value at all (never when `odd` is 0)."""
    if odd and draw(st.integers(0, odd - 1)) == odd - 1:  # shrinks towards valid
        return draw(JSON_VALUE)
    return draw(valid)


MISSING = object()  # the key is left out

# Keys that are not read, some a prefix, a suffix or a near-miss of keys that are.
EXTRA_KEYS = st.sampled_from(
    [
        *("meta", "drafts", "score", "i", "ids", "Id", "id ", "ïd", "dat", "data2", "image2"),
        *("annotation", "predictions_", "updated_at2", "result_count", "origin2", "valu", ""),
    ]
)


@st.composite
def obj(draw: st.DrawFn, fields: list[tuple[str, Any]], odd: int) -> Obj:
    """An object with these keys (MISSING ones left out), now and then an unknown key holding
    any JSON value, in a shuffled order, now and then one key repeated with any value, first
    unless `odd` lets it come last. (The last one wins, but msgspec type-checks both.)"""
    pairs = [(key, value) for key, value in fields if value is not MISSING]
    if draw(st.integers(0, 3)) == 3:
        pairs.append((draw(EXTRA_KEYS), draw(EXTRA_VALUE)))
    pairs = list(draw(st.permutations(pairs)))
    if pairs and draw(st.integers(0, 9)) == 9:
        index = draw(st.integers(0, len(pairs) - 1))
        last = bool(odd) and draw(st.integers(0, odd - 1)) == odd - 1  # the odd value wins
        pairs.insert(index + last, (pairs[index][0], draw(JSON_VALUE)))
    return Obj(tuple(pairs))


def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The value, or the key left out (about one time in six)."""
    return st.one_of(st.just(MISSING), value, value, value, value, value)  # shrinks to absent


STAMPS = st.sampled_from(
    [
        *("2026-01-01T00:00:00Z", "2026-01-02T10:00:00.123456Z", "2026-01-02T10:00:00.5Z"),
        *("2026-01-03T00:00:00+01:00", "", "2026-01-0é", "ζ", "😀", "\x00", None),
    ]
)
small_ids = st.integers(1, 3)
big_ints = st.sampled_from([2**63, 2**64 + 1, 2**70, -(2**63) - 1, -5, 0])
flags = st.sampled_from([True, False, None])
PATHS = st.sampled_from(
    [
        *("e/pick/ep1/f1.jpg", "s3://bucket/tâche/ép1/f.jpg", "😀/ep/f.png", "x.jpg", ""),
        "/data/local-files/?d=episodes/greifen_w%C3%BCrfel/ep_3/frame_000001.jpg",
        *("%", "a%2", "%zz/e/f", "%F0%9F%98%80/e/f", "a\\b/c/d", 'q"uote/e/f', "tab\there/e/f"),
    ]
)
FRAMES = st.integers(-2, 50) | big_ints | in_range_lits
FRAMES |= st.sampled_from([True, None, "12", [], Obj(()), 2.5])
# Close numbers, so that regions often pair up in the geometric comparison.
numbers = st.sampled_from([10, 10.0, 10.3, 10.6, 50, 0]) | in_range_lits
LABELS = st.sampled_from([["wrist"], ["thumb"], [], "wrist"])
REGION_IDS = st.sampled_from(["a", "b", "c", "kpé", None, [1], Obj((("k", 1),))])
REGION_TYPES = st.sampled_from(["keypointlabels", "choices", "relation", "rectanglelabels"])
ORIGINS = st.sampled_from(["prediction", "prediction-changed", "manual", None])
VERSIONS = st.sampled_from(["m1", "m2", "hand-kp-2026.11", "", "modèle-ü", None])


@st.composite
def scan_region(draw: st.DrawFn, odd: int) -> Obj:
    # one number in 40 out of msgspec's range when odd: a TaskProblem if compared
    number = mostly(numbers, odd and 40)
    value = obj(
        [
            ("x", draw(maybe(number))),
            ("y", draw(maybe(number))),
            ("width", draw(maybe(st.just(0.6)))),
            ("keypointlabels", draw(maybe(LABELS))),
            ("points", draw(maybe(st.lists(st.lists(number, max_size=2), max_size=2)))),
        ],
        odd,
    )
    return draw(
        obj(
            [
                ("id", draw(maybe(mostly(REGION_IDS | st.integers(0, 3), odd)))),
                ("type", draw(maybe(mostly(REGION_TYPES, odd)))),
                ("from_name", draw(maybe(mostly(st.sampled_from(["kp", "grasp"]), odd)))),
                ("to_name", draw(maybe(st.just("image")))),
                ("value", draw(maybe(mostly(value, odd)))),
                ("origin", draw(maybe(mostly(ORIGINS, odd)))),
                ("original_width", draw(maybe(st.just(1280)))),
            ],
            odd,
        )
    )


def results(odd: int) -> st.SearchStrategy[Any]:
    return mostly(st.lists(scan_region(odd), max_size=3) | st.sampled_from([None, []]), odd)


@st.composite
def scan_prediction(draw: st.DrawFn, odd: int) -> Obj:
    return draw(
        obj(
            [
                ("id", draw(maybe(mostly(small_ids | big_ints, odd)))),
                ("model_version", draw(maybe(mostly(VERSIONS, odd)))),
                ("created_at", draw(maybe(mostly(STAMPS, odd)))),
                ("result", draw(maybe(results(odd)))),
                ("score", draw(maybe(st.just(0.5)))),
                ("created_ago", draw(maybe(st.just("0\u00a0minutes")))),
            ],
            odd,
        )
    )


@st.composite
def scan_annotation(draw: st.DrawFn, odd: int) -> Obj:
    inline = st.sampled_from([Obj(()), None]) | scan_prediction(odd)
    parent = st.none() | small_ids | big_ints
    return draw(
        obj(
            [
                ("id", draw(maybe(mostly(small_ids, odd)))),
                ("was_cancelled", draw(maybe(mostly(flags, odd)))),
                ("ground_truth", draw(maybe(mostly(flags, odd)))),
                ("created_at", draw(maybe(mostly(STAMPS, odd)))),
                ("updated_at", draw(maybe(mostly(STAMPS, odd)))),
                ("result", draw(maybe(results(odd)))),
                ("parent_prediction", draw(maybe(mostly(parent, odd)))),
                ("prediction", draw(maybe(mostly(inline, odd)))),
                ("completed_by", draw(maybe(st.just(1)))),
            ],
            odd,
        )
    )


@st.composite
def scan_task(draw: st.DrawFn, odd: int) -> Obj:
    data = obj(
        [
            (key, draw(maybe(mostly(PATHS if key in ("image", "bild_ü") else FRAMES, odd))))
            for key in ("image", "n_frames", "bild_ü", "n_é")
        ],
        odd,
    )
    annotations = st.lists(scan_annotation(odd), max_size=3) | st.none()
    bare = small_ids | big_ints
    predictions = st.lists(bare | scan_prediction(odd), max_size=3) | st.none()
    fields: list[tuple[str, Any]] = [
        ("id", draw(mostly(small_ids | big_ints, odd))),
        ("data", draw(mostly(data, odd))),
        ("project", draw(maybe(mostly(st.none() | st.integers(1, 2) | big_ints, odd)))),
        ("updated_at", draw(maybe(mostly(STAMPS, odd)))),
        ("predictions", draw(maybe(mostly(predictions, odd)))),
        ("inner_id", draw(maybe(st.integers(1, 9)))),
    ]
    if draw(st.integers(0, 4)) == 4:  # the legacy key: annotations empty, completions count
        fields.append(("annotations", draw(st.sampled_from([[], None, MISSING]))))
        fields.append(("completions", draw(annotations)))
    else:
        fields.append(("annotations", draw(maybe(mostly(annotations, odd)))))
    return draw(obj(fields, odd))


# How often a typed value is replaced by any JSON value: never, one in 300, one in 60.
ODDS = st.sampled_from([0, 300, 60])


@st.composite
def scan_tasks(draw: st.DrawFn, min_size: int = 1) -> list[Obj]:
    odd = draw(ODDS)
    return draw(st.lists(scan_task(odd), min_size=min_size, max_size=3))


WHITESPACE = [" ", "\t", "\r", "\n", "  ", "\r\n", " \t", ""]
SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n"}
SHORT_ESCAPES |= {"\r": "\\r", "\t": "\\t"}


def _u(code: int, upper: bool) -> str:
    return f"\\u{code:04X}" if upper else f"\\u{code:04x}"


class Writer:
    """JSON text for a tree of Obj/Lit/list/str/int/float/bool/None. The modes are drawn (so
    they shrink to compact and plain); in "wild" mode a seeded Random picks the whitespace
    between tokens, the escapes in strings and the spelling of numbers."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.spacing = draw(st.sampled_from(["compact", "spaced", "wild"]))
        self.escaping = draw(st.sampled_from(["plain", "ascii", "wild"]))
        self.random = random.Random(draw(st.integers(0, 2**32)))

    def ws(self) -> str:
        if self.spacing == "compact":
            return ""
        if self.spacing == "spaced":
            return " "
        return self.random.choice(WHITESPACE)

    def string(self, text: str) -> str:
        wild = self.escaping == "wild" and self.random.random() < 0.5
        plain = text.isascii() and text.isprintable() and '"' not in text and "\\" not in text
        if plain and not wild:
            return f'"{text}"'
        out = ['"']
        for char in text:
            code = ord(char)
            escape = wild and self.random.random() < 0.3
            upper = escape and self.random.random() < 0.5
            if code < 0x20 or char in '"\\':
                short = SHORT_ESCAPES.get(char)
                out.append(short if short and not escape else _u(code, upper))
            elif char == "/" and escape:
                out.append("\\/")
            elif code > 0x7E and (self.escaping == "ascii" or escape):
                if code > 0xFFFF:
                    code -= 0x10000
                    out.append(
                        _u(0xD800 + (code >> 10), upper) + _u(0xDC00 + (code & 0x3FF), upper)
                    )
                else:
                    out.append(_u(code, upper))
            elif escape:
                out.append(_u(code, upper))
            else:
                out.append(char)
        out.append('"')
        return "".join(out)

    def number(self, value: float) -> str:
        text = repr(value)
        if self.spacing == "wild" and "e" not in text:
            text += self.random.choice(["", "e0", "E+0", "e-0", "E00"])
        return text

    def write(self, value: Any) -> str:
        if isinstance(value, Lit):
            return value.text
        if isinstance(value, Obj):
            inner = f"{self.ws()},{self.ws()}".join(
                f"{self.string(key)}{self.ws()}:{self.ws()}{self.write(item)}"
                for key, item in value.pairs
            )
            return "{" + self.ws() + inner + self.ws() + "}"
        if isinstance(value, list):
            inner = f"{self.ws()},{self.ws()}".join(self.write(item) for item in value)
            return "[" + self.ws() + inner + self.ws() + "]"
        if value is None or isinstance(value, bool):
            return json.dumps(value)
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return self.number(value)
        assert isinstance(value, str)
        return self.string(value)


def to_python(value: Any) -> Any:
    """The value the JSON text of `value` stands for (the last of repeated keys wins)."""
    if isinstance(value, Lit):
        return value.value
    if isinstance(value, Obj):
        return {key: to_python(item) for key, item in value.pairs}
    if isinstance(value, list):
        return [to_python(item) for item in value]
    return value


@st.composite
def written_export(draw: st.DrawFn) -> bytes:
    """A list of tasks as hand-written JSON text; now and then another top-level shape."""
    writer = Writer(draw)
    tasks = draw(scan_tasks())
    top: Any = tasks
    shape = draw(st.integers(0, 19))
    if shape == 1:
        top = tasks[0]  # a single task object
    elif shape == 2:
        top = []
    text = writer.ws() + writer.write(top) + writer.ws()
    raw = text.encode("utf-8")
    if shape == 3:
        raw = b"\xef\xbb\xbf" + raw
    return raw


@st.composite
def dumped_export(draw: st.DrawFn) -> bytes:
    """Tasks through json.dumps with random ensure_ascii, separators and indent."""
    if draw(st.booleans()):
        tasks = [to_python(t) for t in draw(scan_tasks())]
    else:
        tasks = draw(st.lists(ls_task(), min_size=1, max_size=3))
    if draw(st.integers(0, 3)) == 0:  # the fuzz strategies' pieces spliced in
        task = tasks[0]
        if isinstance(task, dict) and isinstance(task.get("annotations"), list):
            task["annotations"] = [*task["annotations"], draw(annotation())]
            task["predictions"] = [draw(prediction())]
            task["annotations"][-1]["result"] = [draw(region()), draw(JSON_ANY)]
    ensure_ascii = draw(st.booleans())
    separators = draw(st.sampled_from([None, (",", ":"), (", ", ": "), (" ,\t", " :\r\n")]))
    indent = draw(st.sampled_from([None, 0, 1, 2, "\t", " \r\n"]))
    try:
        text = json.dumps(tasks, ensure_ascii=ensure_ascii, separators=separators, indent=indent)
    except RecursionError:
        text = "[]"
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate: bytes that are not UTF-8


MUTATION_BYTES = st.sampled_from(list(b'[]{},:"\\ \t0-+.eEtnu\x00\x7f\xc3\xff\x80'))


@st.composite
def mutated_export(draw: st.DrawFn) -> bytes:
    """Hand-written text with a few bytes deleted, inserted, replaced, or cut off."""
    raw = bytearray(draw(written_export()))
    for _ in range(draw(st.integers(1, 3))):
        if not raw:
            break
        at = draw(st.integers(0, len(raw) - 1))
        kind = draw(st.integers(0, 3))
        if kind == 0:
            del raw[at]
        elif kind == 1:
            raw.insert(at, draw(MUTATION_BYTES))
        elif kind == 2:
            raw[at] = draw(MUTATION_BYTES)
        else:
            del raw[at:]
    return bytes(raw)


KINDS = ["bytes", "bytearray", "memoryview", "offset view", "mmap", "mmap object"]


def as_kind(raw: bytes, kind: str, keep: list[Any]) -> Any:
    """`raw` as the buffer type `kind`; what must stay alive (an mmap) goes in `keep`."""
    if kind == "bytearray":
        return bytearray(raw)
    if kind == "memoryview":
        return memoryview(raw)
    if kind == "offset view":  # a view into a larger buffer: no reading past its end
        return memoryview(b'["{' + raw + b'"\\}\x00')[3 : 3 + len(raw)]
    if kind in ("mmap", "mmap object"):  # parallel.py: a view of an anonymous mapping
        if not raw:
            return memoryview(raw)
        buffer = mmap.mmap(-1, len(raw))
        buffer[:] = raw
        keep.append(buffer)
        return buffer if kind == "mmap object" else memoryview(buffer)
    return raw


def check_any_kind(scan: Scan, raw: bytes, config: Config, kind: str) -> None:
    keep: list[Any] = []
    view = as_kind(raw, kind, keep)
    try:
        assert_same(scan, view, config)
    finally:
        if isinstance(view, memoryview):
            view.release()
        for buffer in keep:
            buffer.close()


FAST = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LONG = settings(FAST, max_examples=5000)
kinds = st.sampled_from(KINDS)


# ---------------------------------------------------------------- generated bytes


@FAST
@given(raw=written_export(), config=configs, kind=kinds)
def test_hand_written_json(scan: Scan, raw: bytes, config: Config, kind: str) -> None:
    # whitespace, key order, repeated and unknown keys, escapes, number spellings, odd types
    check_any_kind(scan, raw, config, kind)


@pytest.mark.slow
@LONG
@given(raw=written_export(), config=configs, kind=kinds)
def test_hand_written_json_long(scan: Scan, raw: bytes, config: Config, kind: str) -> None:
    check_any_kind(scan, raw, config, kind)


@settings(FAST, max_examples=120)
@given(raw=dumped_export(), config=configs, kind=kinds)
def test_json_dumps_output(scan: Scan, raw: bytes, config: Config, kind: str) -> None:
    # what Python's json writes: ensure_ascii on and off, every separator and indent
    check_any_kind(scan, raw, config, kind)


@pytest.mark.slow
@LONG
@given(raw=dumped_export(), config=configs, kind=kinds)
def test_json_dumps_output_long(scan: Scan, raw: bytes, config: Config, kind: str) -> None:
    check_any_kind(scan, raw, config, kind)


@settings(FAST, max_examples=120)
@given(raw=broken_export(), config=configs)
def test_fuzz_exports(scan: Scan, raw: bytes, config: Config) -> None:
    # test_fuzz's exports, broken in any field and sometimes truncated
    assert_same(scan, raw, config)


@pytest.mark.slow
@LONG
@given(raw=broken_export(), config=configs)
def test_fuzz_exports_long(scan: Scan, raw: bytes, config: Config) -> None:
    assert_same(scan, raw, config)


@settings(FAST, max_examples=120)
@given(raw=mutated_export(), config=configs)
def test_damaged_bytes(scan: Scan, raw: bytes, config: Config) -> None:
    # invalid JSON and invalid UTF-8 anywhere: never columns where the ordinary path refuses
    assert_same(scan, raw, config)


@pytest.mark.slow
@LONG
@given(raw=mutated_export(), config=configs)
def test_damaged_bytes_long(scan: Scan, raw: bytes, config: Config) -> None:
    assert_same(scan, raw, config)


# ---------------------------------------------------------------- hand-written bytes

T = '{"id":1,"data":{"image":"e/pick/ep1/f.jpg"}'  # a task's start: add keys, then close
SRC = '"predictions":[{"id":1,"model_version":"m","result":[{"id":"a","value":{"x":1}}]}]'
DEEP = "[" * 5000 + "]" * 5000

# (what it pins, the export); a case starting with "{" is wrapped in a list
CASES: list[tuple[str, str]] = [
    ("the smallest task", T + "}"),
    ("lone high surrogate in a skipped key: refused", T + r',"zz":"\ud800"}'),
    ("lone high surrogate in the path: refused", r'{"id":1,"data":{"image":"\ud800x"}}'),
    ("lone low surrogate in the path: refused", r'{"id":1,"data":{"image":"\udc00"}}'),
    ("surrogate pair, escaped slash and quote", r'{"id":1,"data":{"image":"\ud83d\ude00\/e\"f"}}'),
    ("escaped keys name the field and the id", r'{"\u0069d":1,"data":{"im\u0061ge":"e/p/f"}}'),
    ("an escaped NUL in the path is valid", r'{"id":1,"data":{"image":"a\u0000b/c/d"}}'),
    ("invalid escape in a skipped key: refused", T + r',"zz":"\q"}'),
    ("short \\u escape in a skipped key: refused", T + r',"zz":"\u12"}'),
    ("raw control character in a skipped string: refused", T + ',"zz":"a\x01"}'),
    ("raw tab inside the path: refused", '{"id":1,"data":{"image":"a\tb"}}'),
    ("1e400 in a skipped key is never parsed: accepted", T + ',"zz":1e400}'),
    (
        "1e400 in a value the geometric comparison reads: TaskProblem",
        T + ',"annotations":[{"result":[{"value":{"x":1e400}}],"prediction":{}}],'
        '"predictions":[{"result":[]}]}',
    ),
    (
        "1e400 in a region with an origin: value never read, accepted",
        T + ',"annotations":[{"result":[{"origin":"manual","value":1e400}]}]}',
    ),
    (
        "1e400 in a relation region: still decoded, TaskProblem",
        T + ',"annotations":[{"result":[{"type":"relation","value":1e400}]}],' + SRC + "}",
    ),
    (
        "just past the largest double: msgspec says out of range",
        T + ',"annotations":[{"result":[{"value":{"x":1.7976931348623159e308}}]}],' + SRC + "}",
    ),
    (
        "an int of 401 digits in a compared value: float() overflows in the ordinary path",
        T
        + ',"annotations":[{"result":[{"id":"a","value":{"x":1'
        + "0" * 400
        + "}}]}],"
        + SRC
        + "}",
    ),
    (
        "an int of 401 digits as the frame count",
        '{"id":1,"data":{"image":"a","n_frames":1' + "0" * 400 + "}}",
    ),
    (
        "the largest double",
        T + ',"annotations":[{"result":[{"value":{"x":1.7976931348623157e308}}]}],' + SRC + "}",
    ),
    ("1e400 as the frame count: refused", '{"id":1,"data":{"image":"a","n_frames":1e400}}'),
    (
        "repeated keys: the last id and the last data win",
        '{"id":1,"data":{"image":"a/b/c"},"id":2,"data":{"image":"d/e/f"}}',
    ),
    (
        "a repeated id, the first null: refused (msgspec checks every occurrence)",
        '{"id":null,"id":1,"data":{"image":"a"}}',
    ),
    (
        "a repeated data, the first null: refused",
        '{"id":1,"data":null,"data":{"image":"a"}}',
    ),
    (
        "a repeated annotations key, the last null",
        T + ',"annotations":[{"result":[]}],"annotations":null}',
    ),
    ("id 1.0: refused", '{"id":1.0,"data":{"image":"a"}}'),
    ("id true: refused", '{"id":true,"data":{"image":"a"}}'),
    ("id a string: refused", '{"id":"1","data":{"image":"a"}}'),
    ("id null: refused", '{"id":null,"data":{"image":"a"}}'),
    ("id missing: refused", '{"data":{"image":"a"}}'),
    (
        "id and project past 64 bits, negative",
        '{"id":18446744073709551616,"project":-9223372036854775809,"data":{"image":"a"}}',
    ),
    ("-0 is the int 0", '{"id":-0,"project":-0,"data":{"image":"a"}}'),
    ("project 1e2 is a float: refused", '{"id":1,"project":1e2,"data":{"image":"a"}}'),
    ("data null: refused", '{"id":1,"data":null}'),
    ("data a list: refused", '{"id":1,"data":[]}'),
    ("data empty: no path", '{"id":1,"data":{}}'),
    ("data missing: refused", '{"id":1}'),
    (
        "a path that is not a string: no path; raw_frames keeps it when frames_field == field",
        '{"id":1,"data":{"image":[1,{"a":-0.0}],"n_frames":-0.0}}',
    ),
    ("a path that is a number", '{"id":1,"data":{"image":1.5}}'),
    ("%-escapes that do not decode", '{"id":1,"data":{"image":"a%zz%C3%A9%2/%/x"}}'),
    ("frames 1.0", '{"id":1,"data":{"image":"a","n_frames":1.0}}'),
    ("frames 1e5", '{"id":1,"data":{"image":"a","n_frames":1e5}}'),
    ("frames true", '{"id":1,"data":{"image":"a","n_frames":true}}'),
    ("frames past 64 bits", '{"id":1,"data":{"image":"a","n_frames":99999999999999999999}}'),
    ("frames a string", '{"id":1,"data":{"image":"a","n_frames":"12"}}'),
    ("frames an object", '{"id":1,"data":{"image":"a","n_frames":{"a":[1,"b"]}}}'),
    ("updated_at not a string: refused", '{"id":1,"data":{"image":"a"},"updated_at":5}'),
    (
        "empty created_at and updated_at: the stamp is empty",
        T + ',"updated_at":"","annotations":[{"result":[],"created_at":"","updated_at":""}]}',
    ),
    (
        "updated_at empty falls back to created_at",
        T + ',"updated_at":"","annotations":[{"result":[],"created_at":"z","updated_at":""}]}',
    ),
    (
        "non-ASCII stamps compare by code point",
        T + ',"updated_at":"\u00e9","annotations":[{"result":[],"updated_at":"\\ud83d\\ude00"}]}',
    ),
    (
        "annotations empty and completions count (legacy key)",
        T + ',"annotations":[],"completions":[{"result":[],"created_at":"z"}]}',
    ),
    (
        "annotations null and completions count",
        T + ',"annotations":null,"completions":[{"result":[],"created_at":"z"}]}',
    ),
    ("annotations an object: refused", T + ',"annotations":{}}'),
    ("a null annotation: refused", T + ',"annotations":[null]}'),
    (
        "ground_truth and was_cancelled null: not cancelled",
        T + ',"annotations":[{"result":[],"ground_truth":null,"was_cancelled":null}]}',
    ),
    ("was_cancelled 1: refused", T + ',"annotations":[{"result":[],"was_cancelled":1}]}'),
    (
        "only cancelled annotations: skipped",
        T + ',"annotations":[{"result":[],"was_cancelled":true},{"was_cancelled":true}]}',
    ),
    (
        "ground truth wins over a later annotation; ids that are not ints",
        T + ',"annotations":[{"id":"x","result":[],"ground_truth":true,"updated_at":"a"},'
        '{"id":1.5,"result":[],"updated_at":"b"},{"id":true,"result":[],"updated_at":"b"}]}',
    ),
    ("result a string: TaskProblem", T + ',"annotations":[{"result":"x"}]}'),
    ("result [1] with no source: accepted", T + ',"annotations":[{"result":[1]}]}'),
    (
        "result [1] with a source: decoded, TaskProblem",
        T + ',"annotations":[{"result":[1]}],"predictions":[{}]}',
    ),
    (
        "a cancelled annotation's result [1] is never decoded",
        T + ',"annotations":[{"result":[1],"was_cancelled":true},{"result":[]}],' + SRC + "}",
    ),
    (
        "parent_prediction 1.0: refused",
        T + ',"annotations":[{"result":[],"parent_prediction":1.0}]}',
    ),
    (
        "parent_prediction true: refused",
        T + ',"annotations":[{"result":[],"parent_prediction":true}]}',
    ),
    (
        "parent_prediction past 64 bits names a prediction object",
        T + ',"annotations":[{"result":[],"parent_prediction":99999999999999999999999}],'
        '"predictions":[{"id":99999999999999999999999,"model_version":"m"}]}',
    ),
    (
        "a prediction id 1.0 equals parent_prediction 1 (Python ==)",
        T + ',"annotations":[{"result":[],"parent_prediction":1}],'
        '"predictions":[{"id":1.0,"model_version":"m"}]}',
    ),
    (
        "a prediction id true equals parent_prediction 1 (Python ==)",
        T + ',"annotations":[{"result":[],"parent_prediction":1}],'
        '"predictions":[{"id":true,"model_version":"m","created_at":5}]}',
    ),
    (
        "predictions mixing bare ints and objects",
        T + ',"predictions":[1,{"id":2,"model_version":"m","result":[]},3]}',
    ),
    ("a bare prediction true: refused", T + ',"predictions":[1,true]}'),
    ("a bare prediction 1.5: refused", T + ',"predictions":[1,1.5]}'),
    ("a bare prediction string: refused", T + ',"predictions":[1,"x"]}'),
    ("a bare prediction null: refused", T + ',"predictions":[1,null]}'),
    (
        "the latest prediction object is the source without parent_prediction",
        T + ',"annotations":[{"result":[{"origin":"prediction","id":"a"}]}],"predictions":['
        '{"id":2,"model_version":"old","created_at":"a","result":[]},'
        '{"id":1,"model_version":"new","created_at":"b","result":[{"id":"a"}]},'
        '{"id":"3","model_version":"odd","created_at":"b","result":[]}]}',
    ),
    ("inline prediction {}", T + ',"annotations":[{"result":[],"prediction":{}}]}'),
    ("inline prediction null", T + ',"annotations":[{"result":[],"prediction":null}]}'),
    (
        "inline prediction, a full object",
        T + ',"annotations":[{"result":[{"id":"a","origin":"prediction"}],"parent_prediction":7,'
        '"prediction":{"id":7,"model_version":"m","created_at":"c","result":[{"id":"a"}]}}]}',
    ),
    ("inline prediction 5: refused", T + ',"annotations":[{"result":[],"prediction":5}]}'),
    (
        "inline prediction result a string: TaskProblem",
        T + ',"annotations":[{"result":[],"prediction":{"result":"x"}}]}',
    ),
    (
        "inline prediction result an object: TaskProblem",
        T + ',"annotations":[{"result":[{"origin":"prediction"}],"prediction":{"result":{}}}]}',
    ),
    (
        "the inline prediction names another id: source unknown",
        T + ',"annotations":[{"result":[{"origin":"prediction"}],"parent_prediction":2,'
        '"prediction":{"id":3,"model_version":"m","result":[]}}]}',
    ),
    (
        "region ids that are lists and objects: compared by structure",
        T + ',"annotations":[{"result":[{"id":[1],"origin":"prediction"}]}],'
        '"predictions":[{"result":[{"id":{}}]}]}',
    ),
    (
        "a region deleted by the labeler: corrected",
        T + ',"annotations":[{"result":[{"id":"b","origin":"prediction"}]}],' + SRC + "}",
    ),
    (
        "origins that are not strings",
        T
        + ',"annotations":[{"result":[{"id":"a","origin":5},{"origin":["manual"]}]}],'
        + SRC
        + "}",
    ),
    (
        "origin null on every region: the geometric comparison",
        T + ',"annotations":[{"result":[{"id":"a","origin":null,"value":{"x":1}}]}],' + SRC + "}",
    ),
    (
        "no origin, x moved by exactly the tolerance",
        T + ',"annotations":[{"result":[{"id":"z","value":{"x":1.5}}]}],' + SRC + "}",
    ),
    (
        "no origin, x moved past the tolerance",
        T + ',"annotations":[{"result":[{"id":"z","value":{"x":1.51}}]}],' + SRC + "}",
    ),
    (
        "no origin, a bool in the value is not a number",
        T + ',"annotations":[{"result":[{"value":{"x":true}}]}],' + SRC + "}",
    ),
    (
        "no origin, the same number spelled 1E+0",
        T + ',"annotations":[{"result":[{"id":"a","value":{"x":1E+0}}]}],' + SRC + "}",
    ),
    (
        "relation regions are ignored",
        T + ',"annotations":[{"result":[{"type":"relation"},{"value":{"x":1}}]}],' + SRC + "}",
    ),
    (
        "no origin and the source unknown: correction_unknown",
        T + ',"annotations":[{"result":[{"value":{"x":1}}],"parent_prediction":9}],'
        '"predictions":[9]}',
    ),
    (
        "an empty release is no release",
        T + ',"predictions":[{"id":1,"model_version":"","created_at":"c"}]}',
    ),
    (
        "a release and created_at that are not strings",
        T + ',"predictions":[{"id":1,"model_version":5,"created_at":5}]}',
    ),
    ("nesting 100 deep in a skipped key", T + ',"zz":' + "[" * 100 + "]" * 100 + "}"),
    ("nesting 5000 deep in a skipped key: refused", T + ',"zz":' + DEEP + "}"),
    ("nesting 5000 deep in the path: refused", '{"id":1,"data":{"image":' + DEEP + "}}"),
    (
        "every whitespace byte between every token",
        ' \t\r\n[ \t\r\n{ "id" \t: 1 ,\r\n"data"\n:\t{ "image" : "a" } } \n] \r\n',
    ),
    ("a form feed is not JSON whitespace: refused", '[\f{"id":1,"data":{"image":"a"}}]'),
    ("trailing garbage: refused", "[" + T + "}] x"),
    ("a trailing comma: refused", "[" + T + "},]"),
    ("two lists: refused", "[" + T + "}][" + T + "}]"),
    ("a BOM", "\ufeff[" + T + "}]"),
    ("a single task object", " " + T + "}"),
    ("an empty list", "[]"),
    ("a list of numbers", "[1]"),
    ("nothing", ""),
    ("only whitespace", " "),
    ("a string", ' "x"'),
    ("null", " null"),
    ("NaN: not JSON", T + ',"zz":NaN}'),
]


def _export(case: str) -> bytes:
    return (f"[{case}]" if case.startswith("{") else case).encode()


@pytest.mark.parametrize("config", list(CONFIGS.values()), ids=list(CONFIGS))
@pytest.mark.parametrize("case", [text for _, text in CASES], ids=[what for what, _ in CASES])
def test_hand_written_cases(scan: Scan, case: str, config: Config) -> None:
    raw = _export(case)
    assert_same(scan, raw, config)
    assert_same(scan, bytearray(raw), config)


def test_non_ascii_and_invalid_utf8_bytes(scan: Scan) -> None:
    # raw non-ASCII bytes and invalid UTF-8 (a lone continuation byte, 0xFF, overlong, CESU)
    for tail in (b"\xc3\xa9", b"\x80", b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf0\x9f\x98"):
        for where in (b'"data":{"image":"a%s"}', b'"data":{"image":"a"},"zz":"%s"'):
            raw = b'[{"id":1,' + where.replace(b"%s", tail) + b"}]"
            for config in CONFIGS.values():
                assert_same(scan, raw, config)


def test_a_strided_view(scan: Scan) -> None:
    # a non-contiguous memoryview: None or the columns of its bytes, never an exception
    raw = bytes(b for c in b'[{"id":1,"data":{"image":"a/b/c"}}]' for b in (c, 0x20))
    assert_same(scan, memoryview(raw)[::2], Config())


# ---------------------------------------------------------------- files


def _files() -> list[Path]:
    found = sorted(DATA.rglob("*.json"))
    if SAMPLES.is_dir():
        found += sorted(p for p in SAMPLES.iterdir() if p.is_file())
    return found


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT.parent))


@pytest.mark.parametrize("config", list(CONFIGS.values()), ids=list(CONFIGS))
@pytest.mark.parametrize("path", _files(), ids=_name)
def test_files(scan: Scan, path: Path, config: Config) -> None:
    # every JSON file under tests/data and every file in ../shared/ls-samples (refusals too)
    raw = path.read_bytes()
    assert_same(scan, raw, config)
    keep: list[Any] = []
    view = as_kind(raw, "mmap", keep)
    try:
        assert_same(scan, view, config)
    finally:
        view.release()
        for buffer in keep:
            buffer.close()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Bench-like exports of a few hundred frames, in both shapes."""
    gen = workloads.generator()
    folder = tmp_path_factory.mktemp("generated")
    params = dataclasses.replace(gen.Params(), frames=400, days=1, seed=3)
    exports = {}
    for shape in ("snapshot", "community"):
        (path,) = gen.generate(params, folder / shape, shape)
        exports[shape] = path
    return exports


@pytest.mark.parametrize("config", list(CONFIGS.values()), ids=list(CONFIGS))
@pytest.mark.parametrize("shape", ["snapshot", "community"])
def test_generated_exports(
    scan: Scan, generated: dict[str, Path], shape: str, config: Config
) -> None:
    # the generator's two shapes (fixtures/generate.py), as bench/ reads them
    assert_same(scan, generated[shape].read_bytes(), config)


REAL = [LS_REAL / "ls_default_export.json", LS_REAL / "ls_snapshot_export.json"]


@pytest.mark.parametrize("config", list(CONFIGS.values()), ids=list(CONFIGS))
@pytest.mark.parametrize("name", [p.name for p in REAL] + ["snapshot", "community"])
def test_real_exports_are_read_by_the_scanner_itself(
    scan: Scan, generated: dict[str, Path], name: str, config: Config
) -> None:
    # real Label Studio exports and the generator's: the scanner reads them, not None
    pytest.importorskip(
        "retrain_gate._scan",
        reason="the C extension retrain_gate._scan is not built: scanned_columns returns None",
    )
    path = generated[name] if name in generated else LS_REAL / name
    got = assert_same(scan, path.read_bytes(), config)
    assert got is not None, f"the scanner handed {name} back (None); it must read it itself"


# ---------------------------------------------------------------- split like parallel.py


def split_columns(scan: Scan, raw: bytearray, comma: int, config: Config) -> Any:
    """The two halves' scanner columns, concatenated, the way parallel.read_in_two splits:
    the comma becomes `]` for the first half and `[` for the second. None if a half is None."""
    halves = []
    try:
        for bracket, part in ((b"]", slice(None, comma + 1)), (b"[", slice(comma, None))):
            raw[comma] = bracket[0]
            with memoryview(raw) as view:
                half = view[part]
                halves.append(assert_same(scan, half, config))
                half.release()
    finally:
        raw[comma] = ord(",")
    if halves[0] is None or halves[1] is None:
        return None
    (first, a), (second, b) = halves
    return {name: first[name] + second[name] for name in first}, a + b


def assert_split_same(scan: Scan, raw: bytearray, comma: int, config: Config) -> None:
    whole = assert_same(scan, bytes(raw), config)
    joined = split_columns(scan, raw, comma, config)
    if whole is not None and joined is not None:
        difference = _difference(joined, whole)
        assert difference is None, f"split at {comma}: {difference}"


@st.composite
def split_export(draw: st.DrawFn) -> tuple[bytes, int]:
    """Hand-written tasks and the offset of one comma between two top-level tasks."""
    writer = Writer(draw)
    tasks = [writer.write(t) for t in draw(scan_tasks(min_size=2))]
    cut = draw(st.integers(1, len(tasks) - 1))
    head = "[" + writer.ws() + f"{writer.ws()},{writer.ws()}".join(tasks[:cut]) + writer.ws()
    tail = writer.ws() + f"{writer.ws()},{writer.ws()}".join(tasks[cut:]) + writer.ws() + "]"
    head_bytes = head.encode("utf-8")
    return head_bytes + b"," + tail.encode("utf-8"), len(head_bytes)


@settings(FAST, max_examples=60)
@given(split=split_export(), config=configs)
def test_split_like_parallel(scan: Scan, split: tuple[bytes, int], config: Config) -> None:
    # halves of a file (memoryviews of one buffer) give, joined, the whole file's columns
    raw, comma = split
    assert_split_same(scan, bytearray(raw), comma, config)


@pytest.mark.parametrize("name", ["snapshot", "community", *(p.name for p in REAL)])
def test_split_at_parallels_boundary(scan: Scan, generated: dict[str, Path], name: str) -> None:
    # the boundary parallel.find_boundary picks in real and generated exports
    config = CONFIGS["frames_field"]
    raw = bytearray((generated[name] if name in generated else LS_REAL / name).read_bytes())
    comma = parallel.find_boundary(raw, int(len(raw) * parallel.OWN_SHARE), config)
    assert comma is not None
    assert_split_same(scan, raw, comma, config)

"""The docs stand alone: every relative link resolves inside the repository, and neither the
code nor the docs name a path that exists only on the machine they were written on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

DOCS = sorted(
    {
        ROOT / "README.md",
        *ROOT.glob("docs/*.md"),
        *ROOT.glob("bench/*.md"),
        *ROOT.glob("fixtures/**/README.md"),
        ROOT / "scripts" / "README.md",
    }
)

# [text](target) outside code; a target with a scheme or an in-page anchor is not a file.
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```.*?```", re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def relative_links(text: str) -> list[str]:
    text = INLINE_CODE.sub("", FENCE.sub("", text))
    targets = [m.group(1) for m in LINK.finditer(text)]
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:|^#", t)]


def test_the_link_finder_finds_links() -> None:
    text = "see [a](docs/a.md#x), [b](https://x.org), [c](#top), `[d](no.md)`"
    assert relative_links(text) == ["docs/a.md#x"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc: Path) -> None:
    assert doc.is_file()
    broken = [
        target
        for target in relative_links(doc.read_text(encoding="utf-8"))
        if not (doc.parent / target.split("#", 1)[0]).exists()
    ]
    assert broken == []


def test_semantics_is_in_the_repository_and_cited() -> None:
    assert (ROOT / "docs" / "semantics.md").is_file()
    for doc in DOCS:
        assert "gate-semantics" not in doc.read_text(encoding="utf-8"), doc


MACHINE_PATH = re.compile(r"(?<!\w)/work/|\.\./shared\b|shared/ls-samples|gate-semantics\.md")


def test_no_machine_paths_in_code_or_docs() -> None:
    sources = [
        *DOCS,
        *ROOT.glob("src/**/*.py"),
        *ROOT.glob("bench/*.py"),
        *ROOT.glob("fixtures/*.py"),
        *ROOT.glob("scripts/*.py"),
    ]
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if MACHINE_PATH.search(line)
    ]
    assert found == []


def test_the_demo_readme_names_every_key_the_demo_config_sets() -> None:
    """fixtures/demo/README.md says which keys config.toml moves from their defaults."""
    import tomllib

    from retrain_gate.config import Config

    readme = (ROOT / "fixtures" / "demo" / "README.md").read_text(encoding="utf-8")
    data = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    defaults = Config()
    changed = [
        key
        for section, values in data.items()
        for key, value in values.items()
        if str(value) != str(getattr(getattr(defaults, section), key))
    ]
    assert "initial_corpus_episodes" in changed  # the check below can fail
    assert [key for key in changed if f"`{key}" not in readme] == []
    corpus = data["gates"]["initial_corpus_episodes"]
    assert re.findall(r"corpus (\d+)", readme) == [str(corpus)]


def test_screenshot_captions_name_the_decision_they_show() -> None:
    tui = (ROOT / "docs" / "tui.md").read_text(encoding="utf-8")
    images = re.findall(r"!\[([^\]]*)\]\(([^)]+)\)", tui)
    assert len(images) >= 4
    for caption, target in images:
        svg = (ROOT / "docs" / target).read_text(encoding="utf-8")
        for word in ("wait", "regression", "ready"):
            if word in caption.lower():
                assert word.upper() in svg, (caption, target)


def test_the_patterns_in_sources_md_map_their_example_paths() -> None:
    """Each row of docs/sources.md's pattern table: the pattern, accepted by the config, maps
    the example path to the task and episode the row names (polars' regex, as ingest runs it)."""
    import polars as pl

    from retrain_gate.config import EpisodesConfig

    text = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    section = text.split("Which episode a frame belongs to", 1)[1]
    rows = [
        [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        for line in section.splitlines()
        if line.startswith("| ") and "`" in line
    ]
    assert len(rows) == 4
    for _, path, pattern, expected in rows:
        path = path.strip("`")
        pattern = pattern.split("`")[1].replace("\\|", "|")
        EpisodesConfig(pattern=pattern)  # accepted by the config
        groups = pl.Series([path]).str.extract_groups(pattern)[0]
        found = f"`{groups['task_subdir']}`, `{groups['episode']}`"
        assert found == expected, (path, pattern)


# A time or a speed stated as a fact about this code: it goes stale, and belongs in bench/.
PERFORMANCE_FIGURE = re.compile(
    r"\b\d[\d,.]*\s?(?:ms|µs)\b"
    r"|\b(?:in|takes?|took|about|under)\s~?\d[\d,.]*\s?(?:s|seconds?)\b"
    r"|\babout a second\b"
    r"|\b\d[\d,.]*x (?:faster|slower)\b"
)


def _python_prose(path: Path) -> list[str]:
    import io
    import tokenize

    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    return [t.string for t in tokens if t.type in (tokenize.COMMENT, tokenize.STRING)]


def test_no_performance_figures_in_shipped_prose() -> None:
    """Config comments (what `init` writes), code comments, help and messages, and the docs
    other than bench/ and reliability.md's record of what was tried state no timing."""
    from retrain_gate.config import default_config_toml

    prose = {"retrain-gate init": [default_config_toml()]}
    for path in sorted((ROOT / "src").rglob("*.py")):
        prose[str(path.relative_to(ROOT))] = _python_prose(path)
    for path in [ROOT / "README.md", *sorted(ROOT.glob("docs/*.md"))]:
        if path.name != "reliability.md":
            prose[str(path.relative_to(ROOT))] = [path.read_text(encoding="utf-8")]
    found = [
        f"{where}: {match.group(0)!r}"
        for where, texts in prose.items()
        for text in texts
        for match in PERFORMANCE_FIGURE.finditer(text)
    ]
    assert found == []
    assert PERFORMANCE_FIGURE.search("a 180 MB export reads in about a second")
    assert PERFORMANCE_FIGURE.search("collections of ~100 ms")


def test_the_architecture_data_flow_names_code_that_exists() -> None:
    import importlib

    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    flow = FENCE.search(text)
    assert flow is not None
    names = re.findall(r"\b([a-z_]+(?:\.[A-Za-z_]+)+)\b", flow.group(0))
    assert "loader.load_export" in names
    for name in names:
        if name.endswith((".jsonl", ".parquet")):
            continue
        module, *attrs = name.split(".")
        target: object = importlib.import_module(f"retrain_gate.{module}")
        for attr in attrs:
            if not hasattr(target, attr):  # a submodule: models.FRAME_SCHEMA, labelstudio.export
                target = importlib.import_module(f"{target.__name__}.{attr}")  # type: ignore[attr-defined]
            else:
                target = getattr(target, attr)

"""The eval set hash (§6): file bytes, or sorted "{path}\\0{sha256}\\n" lines for a directory."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from retrain_gate.evalset import eval_set_hash, eval_set_signature

# sha256 of b"hello" and b"world", as printed by `printf hello | sha256sum`.
HELLO = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
WORLD = "486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_missing_path_has_no_hash(tmp_path: Path) -> None:
    assert eval_set_hash(tmp_path / "nope") is None


def test_file_hash_is_sha256_of_its_bytes(tmp_path: Path) -> None:
    _write(tmp_path / "eval.jsonl", b"hello")
    assert eval_set_hash(tmp_path / "eval.jsonl") == HELLO


def test_large_file_hashes_like_its_bytes(tmp_path: Path) -> None:
    # Larger than any sane read chunk, so a streaming bug (lost or repeated chunk) shows.
    data = bytes(range(256)) * 40_000 + b"tail"
    _write(tmp_path / "big.bin", data)
    assert eval_set_hash(tmp_path / "big.bin") == hashlib.sha256(data).hexdigest()


def test_directory_hash_is_over_sorted_path_lines(tmp_path: Path) -> None:
    root = tmp_path / "eval"
    # A walk lists b.txt (top level) before a/z.txt (a subfolder); sorted, a/z.txt comes first.
    # And "a/z.txt" sorts after "a.txt" ('.' is 0x2e, '/' is 0x2f).
    _write(root / "b.txt", b"hello")
    _write(root / "a" / "z.txt", b"world")
    _write(root / "a.txt", b"hello")
    lines = f"a.txt\0{HELLO}\na/z.txt\0{WORLD}\nb.txt\0{HELLO}\n"
    assert eval_set_hash(root) == hashlib.sha256(lines.encode()).hexdigest()


def test_empty_directory_hashes_no_lines(tmp_path: Path) -> None:
    (tmp_path / "eval").mkdir()
    assert eval_set_hash(tmp_path / "eval") == hashlib.sha256(b"").hexdigest()


def test_hidden_files_and_folders_do_not_count(tmp_path: Path) -> None:
    root = tmp_path / "eval"
    _write(root / "img" / "1.png", b"hello")
    before = eval_set_hash(root)
    _write(root / ".DS_Store", b"junk")
    _write(root / ".git" / "objects" / "ab", b"junk")
    _write(root / "img" / ".1.png.swp", b"junk")
    assert eval_set_hash(root) == before


def test_a_hidden_root_folder_still_hashes_its_files(tmp_path: Path) -> None:
    # Only names below the eval set are skipped; its own folder may be named anything.
    root = tmp_path / ".eval"
    _write(root / "1.png", b"hello")
    lines = f"1.png\0{HELLO}\n"
    assert eval_set_hash(root) == hashlib.sha256(lines.encode()).hexdigest()


def test_edit_rename_add_and_remove_change_the_hash(tmp_path: Path) -> None:
    root = tmp_path / "eval"
    _write(root / "1.png", b"hello")
    seen = {eval_set_hash(root)}
    (root / "1.png").write_bytes(b"hellO")
    seen.add(eval_set_hash(root))
    (root / "1.png").rename(root / "2.png")
    seen.add(eval_set_hash(root))
    _write(root / "3.png", b"world")
    seen.add(eval_set_hash(root))
    (root / "2.png").unlink()
    seen.add(eval_set_hash(root))
    assert len(seen) == 5


def test_same_content_in_another_folder_hashes_the_same(tmp_path: Path) -> None:
    for name in ("one", "two"):
        _write(tmp_path / name / "x" / "1.png", b"hello")
    assert eval_set_hash(tmp_path / "one") == eval_set_hash(tmp_path / "two")


def test_the_signature_covers_exactly_the_files_the_hash_covers(tmp_path: Path) -> None:
    """One walk for both: a file the hash skips (hidden, a FIFO) is not in the signature."""
    root = tmp_path / "eval"
    (root / "cam").mkdir(parents=True)
    (root / "cam" / "a.jpg").write_bytes(b"a")
    (root / "b.jpg").write_bytes(b"bb")
    (root / ".DS_Store").write_bytes(b"x")
    os.mkfifo(root / "pipe")
    signature = eval_set_signature(root)
    assert signature is not None
    assert [(name, size) for name, size, _ in signature] == [("b.jpg", 2), ("cam/a.jpg", 1)]
    assert eval_set_signature(tmp_path / "missing") is None

"""What a cold `check` costs when reading the export costs nothing: the floor under the parse.

`python -m bench.floor CONFIG COLUMNS` runs `retrain-gate check --json` as usual (imports,
writer lock, frame table, merge, parquet write, evaluate, report), except that the loader
returns the export's per-task columns from COLUMNS, a pickle made beforehand by `prepare`
(the same `task_columns` the check computes). The difference between the real cold check and
this one is what reading, hashing, decoding and §1-§3 per task cost; the floor is what no
faster parser could remove. The harness measures both in the same run (RESULTS.md).
"""

from __future__ import annotations

import hashlib
import pickle
import sys
from pathlib import Path
from typing import Any


def prepare(export: Path, config_path: Path, out: Path) -> None:
    """Write COLUMNS for `export`: its task columns, task count and sha256."""
    from retrain_gate.config import load_config
    from retrain_gate.exports import decode_tasks, read_bytes, task_columns

    config = load_config(config_path)
    raw, _mtime = read_bytes(export, config)
    tasks = decode_tasks(raw, export, config)
    payload = (task_columns(tasks, config), len(tasks), hashlib.sha256(raw).hexdigest())
    out.write_bytes(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))


def main(argv: list[str]) -> int:
    config_path, columns_path = Path(argv[0]), Path(argv[1])
    from retrain_gate import loader, readahead
    from retrain_gate.exports import parsed_from_columns
    from retrain_gate.loader import Loaded

    def prepared(
        path: Path, config: Any, size: int, mtime_ns: int, known: Any, progress: Any = None
    ) -> Loaded:
        columns, tasks, digest = pickle.loads(columns_path.read_bytes())
        parsed = parsed_from_columns(path, columns, tasks, config, mtime_ns)
        return Loaded(size, mtime_ns, digest, parsed)

    loader.load_export = prepared  # what the store imports on its first ingest
    # The parse is free here: a read begun ahead (readahead.py) would only be thrown away,
    # after a child had read the whole export beside this process.
    readahead.start = lambda config_path: None  # type: ignore[assignment]
    from retrain_gate.cli import main as cli_main

    return cli_main(["check", "--config", str(config_path), "--json"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Everything that knows Label Studio's JSON, one module per thing it holds:

- `format`: the shapes of Label Studio JSON that are read (msgspec), and why a file is refused;
- `semantics`: the rules of docs/semantics.md §1-§3 over one task (stamp, annotation used,
  source prediction, corrected or not);
- `frames`: per-task columns -> the frame table, with §2's episode mapping;
- `predictions`: the §3 prediction index across files, and the frames pending on it;
- `export`: one export file (a list of tasks, or one task) read a chunk of tasks at a time;
- `storage`: target-storage files, per-annotation ones grouped by frame and task-format ones;
- `pull`: `retrain-gate pull`, a snapshot asked of a Label Studio server, dropped in the
  export folder.

It imports nothing of the store, the ledger or the shells (pyproject.toml's import contracts).
"""

RULES_VERSION = 2  # bumped when a change to the rules or the state's tables changes a frame
# 2: the prediction index records the arrival of the last file that listed each prediction

"""Everything that knows Label Studio's JSON: the shapes read (`format`), the rules of the gate
semantics over one task (`semantics`), the frame table (`frames`), and one module per source
(`export`: an export file). It imports nothing of the store, the ledger or the shells
(pyproject.toml's import contracts)."""

RULES_VERSION = 2  # bumped when a change to the rules or the state's tables changes a frame
# 2: the prediction index records the arrival of the last file that listed each prediction

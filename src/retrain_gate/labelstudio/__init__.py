"""Everything that knows Label Studio's JSON: the shapes read (`format`), the rules of the gate
semantics over one task (`semantics`), the frame table (`frames`), and one module per source
(`export`: an export file). It imports nothing of the store, the ledger or the shells
(pyproject.toml's import contracts)."""

RULES_VERSION = 1  # bumped when a change to the rules changes what a frame is

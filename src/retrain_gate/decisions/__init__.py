"""Human decisions: who may make them, what each means, and the record that keeps them.

`ledger` is the hash-chained file (`ledger.jsonl`) and how it is written and verified;
`replay` turns its entries into the humans' state the gates read; `output` prints them for
people (lines, CSV, JSON, news); `actions` makes a decision (approve, decline, pin, report,
ack) the same way for the CLI and the dashboard; `manifests` writes and checks an approval's
training slice; `names` validates the typed name and note.
"""

"""Where exports come from when `[paths] export_dir` is not a local folder.

A bucket (`s3://`, `gs://`, `az://`, `abfs://`) is mirrored into a folder under the state
folder (`bucket.BucketMirror`); the store then reads that folder exactly as it reads a local
export folder, so the semantics, the refusals and the ledger are the same for both.
"""

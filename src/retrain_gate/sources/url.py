"""Bucket URLs in `[paths] export_dir`: which are accepted, and how each names its bucket.

Pure string work (no client, no network), so the config can validate a URL without importing
the cloud library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SCHEMES = ("s3", "gs", "az", "abfs", "abfss")
_ANY_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# The cloud's names: S3 and GCS buckets, Azure accounts and containers (lower case, digits,
# dots, dashes, underscores for GCS). Checked loosely: the server has the last word.
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$")


@dataclass(frozen=True)
class BucketURL:
    url: str  # as written, minus a trailing "/"
    scheme: str  # s3 | gs | az | abfs | abfss
    bucket: str  # S3/GCS bucket; Azure: the container
    prefix: str  # "" or "a/b" (no leading or trailing "/")
    account: str | None = None  # az://account/container/...; abfs: in the host, if given

    @property
    def cloud(self) -> str:
        return {"s3": "S3", "gs": "GCS"}.get(self.scheme, "Azure")

    def env_prefix(self) -> str:
        """The prefix of the environment variables this cloud's credential chain reads."""
        return {"s3": "AWS_", "gs": "GOOGLE_"}.get(self.scheme, "AZURE_")


def looks_like_url(value: str) -> bool:
    return _ANY_SCHEME.match(value) is not None


def parse_bucket_url(value: str) -> BucketURL:
    """The bucket URL in `value`, or ValueError saying what is wrong (never a credential:
    a URL holding a user or password part is refused without being echoed)."""
    match = _ANY_SCHEME.match(value)
    if match is None:
        raise ValueError("is not a URL")
    scheme = match.group(1).lower()
    if scheme not in SCHEMES:
        raise ValueError(
            f"scheme '{scheme}://' is not supported; use s3://bucket/prefix, "
            "gs://bucket/prefix, az://account/container/prefix or abfs://..., or a folder"
        )
    rest = value[match.end() :]
    if any(c in rest for c in "?#") or any(ord(c) < 32 for c in rest):
        raise ValueError("must be scheme://bucket/prefix, without a query, fragment or controls")
    host, _, path = rest.partition("/")
    if scheme in ("abfs", "abfss"):
        # abfs[s]://container@account.dfs.core.windows.net/path or abfs[s]://container/path
        container, at, account_host = host.partition("@")
        account = account_host.split(".", 1)[0] if at else None
        if ":" in host:
            raise ValueError("must not hold a password or a port; credentials come from AZURE_*")
        parts = [container]
    else:
        if "@" in host or ":" in host:
            raise ValueError(
                "must not hold a user, password or port; credentials and endpoints come from "
                "the cloud's environment variables"
            )
        parts = [host]
        account = None
    if scheme == "az":
        # az://account/container/prefix: the account is part of the URL
        account = host
        container, _, path = path.partition("/")
        parts = [container]
    segments = [s for s in path.split("/") if s]
    if any(s in (".", "..") for s in segments) or "//" in path.strip("/"):
        raise ValueError("has an empty, '.' or '..' segment in its prefix")
    for name in [*parts, *([account] if account else [])]:
        if not _NAME.match(name):
            shown = "the account" if name == account else "the bucket (or container)"
            raise ValueError(
                f"{shown} '{name}' is not a valid name (lower-case letters, digits, '.', '-')"
            )
    return BucketURL(
        url=value.rstrip("/"),
        scheme=scheme,
        bucket=parts[0],
        prefix="/".join(segments),
        account=account,
    )

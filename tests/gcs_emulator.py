"""gcp-storage-emulator on 127.0.0.1, with the XML API's bucket listing it lacks.

Why this exists: obstore (the Rust object_store crate) speaks GCS's XML API. It lists a bucket
with `GET /<bucket>?list-type=2&prefix=...&continuation-token=...` and reads an object with
`GET /<bucket>/<object>`. gcp-storage-emulator has no route for the first (it answers 501 Not
Implemented), and answers the second without the `Last-Modified` and `ETag` headers that
object_store requires of a GCS download. So this script starts the real emulator and adds:

- the XML listing (`GET /<bucket>` and `GET /<bucket>/`): a ListBucketResult built from the
  emulator's own object records (its storage module), in name order, paged by `max-keys` (and
  by `--page-size`, so that a small bucket is listed over several pages) with IsTruncated and
  NextContinuationToken;
- `Last-Modified`, `ETag` and `x-goog-generation` on the XML download, from the same records;
- with `--token`, a 401 for any request without `Authorization: Bearer <token>`, as GCS gives
  (the emulator checks no credentials, so wrong ones could not be tested otherwise).

Everything else (the HTTP server, the storage, the JSON API used to upload and delete, the
download's body) is the emulator's own code. The listing shape follows object_store's
`ListResponse` (src/client/s3.rs) and Google's "List objects" XML API reference
(https://cloud.google.com/storage/docs/xml-api/get-bucket-list). `delimiter` is refused:
retrain-gate never lists with one.

    python tests/gcs_emulator.py --port 9023 --bucket labels [--token T] [--page-size 4]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import logging
import re
from http import HTTPStatus
from typing import Any
from xml.sax.saxutils import escape

from gcp_storage_emulator import server
from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.handlers import objects

_XMLNS = "http://doc.s3.amazonaws.com/2006-03-01"
_MAX_KEYS = 1000  # GCS's own cap on one page
_DOWNLOAD_ROUTE = r"^/(?P<bucket_name>[-.\w]+)/(?P<object_id>.*[^/]+)$"

_settings: dict[str, Any] = {"page_size": _MAX_KEYS, "token": None}


def _error(response: Any, status: HTTPStatus, code: str, message: str) -> None:
    response.status = status
    response.write_file(
        f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
        f"<Message>{escape(message)}</Message></Error>",
        content_type="application/xml; charset=UTF-8",
    )


def _updated(obj: dict[str, Any]) -> dt.datetime:
    # the emulator writes "2026-12-07T06:21:41.123456Z"
    return dt.datetime.fromisoformat(obj["updated"].replace("Z", "+00:00"))


def _etag(obj: dict[str, Any]) -> str:
    """GCS's XML ETag of a non-composite object: its MD5 in hex, quoted."""
    return '"' + base64.b64decode(obj["md5Hash"]).hex() + '"'


def _token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode("utf-8")).decode("ascii")


def _one(request: Any, name: str) -> str | None:
    values = request.query.get(name)
    return values[0] if values else None


def list_objects(request: Any, response: Any, storage: Any) -> None:
    """`GET /<bucket>?list-type=2`: ListObjectsV2 over the emulator's records."""
    bucket = request.params["bucket_name"]
    if _one(request, "list-type") != "2":
        _error(response, HTTPStatus.NOT_IMPLEMENTED, "NotImplemented", "only list-type=2")
        return
    if _one(request, "delimiter") is not None:
        _error(response, HTTPStatus.NOT_IMPLEMENTED, "NotImplemented", "no delimiter here")
        return
    prefix = _one(request, "prefix") or ""
    try:
        limit = min(int(_one(request, "max-keys") or _MAX_KEYS), _settings["page_size"])
        after = _one(request, "start-after") or ""
        token = _one(request, "continuation-token")
        if token is not None:
            after = max(after, base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8"))
    except (ValueError, binascii.Error):
        _error(response, HTTPStatus.BAD_REQUEST, "InvalidArgument", "bad max-keys or token")
        return
    if limit < 1:
        _error(response, HTTPStatus.BAD_REQUEST, "InvalidArgument", "max-keys must be >= 1")
        return
    try:
        found, _prefixes = storage.get_file_list(bucket, prefix or None)
    except NotFound:
        _error(response, HTTPStatus.NOT_FOUND, "NoSuchBucket", f"no bucket {bucket}")
        return
    rest = [obj for obj in found if obj["name"] > after]
    page, truncated = rest[:limit], len(rest) > limit
    parts = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        f'<ListBucketResult xmlns="{_XMLNS}">',
        f"<Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix>",
        f"<KeyCount>{len(page)}</KeyCount><MaxKeys>{limit}</MaxKeys>",
        f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>",
    ]
    if truncated:
        parts.append(f"<NextContinuationToken>{_token(page[-1]['name'])}</NextContinuationToken>")
    for obj in page:
        modified = _updated(obj).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        parts.append(
            f"<Contents><Key>{escape(obj['name'])}</Key>"
            f"<Generation>{obj['generation']}</Generation>"
            f"<MetaGeneration>{obj['metageneration']}</MetaGeneration>"
            f"<LastModified>{modified}</LastModified>"
            f"<ETag>{escape(_etag(obj))}</ETag><Size>{obj['size']}</Size></Contents>"
        )
    parts.append("</ListBucketResult>")
    response.write_file("".join(parts), content_type="application/xml; charset=UTF-8")


def download(request: Any, response: Any, storage: Any) -> None:
    """The emulator's XML download, with the headers object_store needs."""
    objects.download(request, response, storage)
    if response.status not in (HTTPStatus.OK, HTTPStatus.PARTIAL_CONTENT):
        return
    obj = storage.get_file_obj(request.params["bucket_name"], request.params["object_id"])
    response["Last-Modified"] = _updated(obj).strftime("%a, %d %b %Y %H:%M:%S GMT")
    response["ETag"] = _etag(obj)
    response["x-goog-generation"] = obj["generation"]


class _Router(server.Router):
    """The emulator's router, refusing a request without the expected bearer token."""

    def handle(self, method: str) -> None:
        token = _settings["token"]
        sent = self._request_handler.headers.get("Authorization", "")
        if token is not None and sent != f"Bearer {token}":
            response = server.Response(self._request_handler)
            _error(response, HTTPStatus.UNAUTHORIZED, "AuthenticationRequired", "bad token")
            response.close()
            return
        super().handle(method)


def install() -> None:
    """Put the listing and the download headers into the emulator's route table."""
    routes = []
    for regex, handlers in server.HANDLERS:
        if regex == _DOWNLOAD_ROUTE:
            handlers = {**handlers, server.GET: download}
        routes.append((regex, handlers))
    if not any(regex == _DOWNLOAD_ROUTE for regex, _ in routes):
        raise SystemExit("gcs_emulator: this gcp-storage-emulator has no XML download route")
    # last: only paths no route of the emulator's matched (it answered them 501)
    routes.append((r"^/(?P<bucket_name>[-.\w]+)/?$", {server.GET: list_objects}))
    server.HANDLERS = tuple(routes)
    server.Router = _Router  # type: ignore[misc]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bucket", required=True, help="created empty at start")
    parser.add_argument("--token", help="refuse requests without this bearer token")
    parser.add_argument("--page-size", type=int, default=_MAX_KEYS, help="objects per listing")
    args = parser.parse_args()
    if not re.fullmatch(r"[-.\w]+", args.bucket) or args.page_size < 1:
        parser.error("a bucket name of letters, digits, '-', '.', '_'; a page size >= 1")
    _settings.update(page_size=args.page_size, token=args.token)
    logging.basicConfig(level=logging.CRITICAL)
    install()
    # 127.0.0.1 only: the tests never listen on another address
    server.create_server("127.0.0.1", args.port, in_memory=True, default_bucket=args.bucket).run()


if __name__ == "__main__":
    main()

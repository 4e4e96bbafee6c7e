"""Where document bytes live: an S3 bucket, or a folder on the one-machine run.

Both stores take a key such as ``t_alpha_works/personnel/7/3f2a...`` and whole
files (documents are capped at :data:`ems.documents.files.MAX_BYTES`, so nothing
needs streaming). Keys are built by :func:`tenant_key` only, from the tenant's
schema name as the registry holds it and parts the platform generated, never from
a file name a user sent.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from ems.config import Settings
from ems.errors import EmsError, NotFound, ServiceUnavailable

log = logging.getLogger(__name__)

_KEY_PART = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


class DocumentError(EmsError):
    """Root of the documents package's errors."""


class StoreUnavailable(ServiceUnavailable):
    """The object store could not be reached or refused the request."""


class ContentMissing(NotFound):
    """A document's row exists but the store has no object under its key."""

    code = "document_content_missing"


class DocumentStore(Protocol):
    """Whole-object storage under opaque keys."""

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...


def tenant_key(schema_name: str, *parts: str) -> str:
    """``<schema>/<part>/...``: every key of a tenant lives under its own prefix."""
    for part in (schema_name, *parts):
        if not _KEY_PART.match(part) or part in (".", ".."):
            raise DocumentError(f"unsafe object key part {part!r}")
    return "/".join((schema_name, *parts))


class LocalStore:
    """A folder (``EMS_DATA_DIR/documents``): the one-machine run needs no S3."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise DocumentError(f"key {key!r} leaves the store")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside and renamed: a crash never leaves half a file under the key.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ContentMissing("the document's file is missing from the store") from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Store:
    """A bucket through boto3 (AWS, or any S3-compatible store given its endpoint)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def put(self, key: str, data: bytes, content_type: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        # The store checks the SHA-256 itself, so a body damaged in transit is refused.
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                ChecksumSHA256=digest,
            )
        except (BotoCoreError, ClientError) as exc:
            log.warning("object store refused put of %s: %s", key, exc)
            raise StoreUnavailable("the document store is not available") from exc

    def get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
            body: bytes = answer["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ContentMissing("the document's file is missing from the store") from None
            log.warning("object store refused get of %s: %s", key, exc)
            raise StoreUnavailable("the document store is not available") from exc
        except BotoCoreError as exc:
            log.warning("object store unreachable for %s: %s", key, exc)
            raise StoreUnavailable("the document store is not available") from exc
        return body

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            log.warning("object store refused delete of %s: %s", key, exc)
            raise StoreUnavailable("the document store is not available") from exc


def s3_client(settings: Settings) -> Any:
    """A boto3 S3 client for the settings' endpoint, region and credentials."""
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {
        "region_name": settings.s3_region,
        # Short timeouts and few retries: an upload is a user waiting on a request.
        "config": Config(
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
            # Path-style addressing for S3-compatible stores (MinIO, moto) whose
            # endpoint has no per-bucket host names.
            s3={"addressing_style": "path" if settings.s3_endpoint else "auto"},
        ),
    }
    if settings.s3_endpoint:
        options["endpoint_url"] = settings.s3_endpoint
    if settings.s3_access_key:
        options["aws_access_key_id"] = settings.s3_access_key
        options["aws_secret_access_key"] = settings.s3_secret_key
    return boto3.client("s3", **options)


@lru_cache(maxsize=8)
def store_for(settings: Settings) -> DocumentStore:
    """The store the settings name (one per process and settings: boto3 clients are
    thread-safe and costly to build)."""
    if settings.documents_backend == "local":
        return LocalStore(settings.data_dir / "documents")
    if settings.documents_backend == "s3":
        return S3Store(s3_client(settings), settings.s3_bucket)
    raise DocumentError(
        f"EMS_DOCUMENTS_BACKEND is {settings.documents_backend!r}; expected local or s3"
    )

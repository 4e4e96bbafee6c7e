"""What an uploaded document may be, and keeping the store in step with the database.

Accepted: the formats certificates and personnel files come in (PDF, OFD, scans as
JPEG/PNG/TIFF, Office files), recognised by extension *and* by their first bytes,
so a page renamed ``.pdf`` is refused. Downloads are always served as attachments
with the stored type, so nothing uploaded is ever rendered by a browser.

The store is not transactional, so its writes follow the session's: an object put
during a transaction is removed again if the transaction rolls back, and an object
whose row was deleted is removed only once that deletion commits.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from ems.documents.store import DocumentStore, StoreUnavailable
from ems.errors import InvalidInput

log = logging.getLogger(__name__)

MAX_BYTES = 20 * 1024 * 1024
MAX_FILENAME = 200

_ZIP = (b"PK\x03\x04",)
_OLE = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)
# extension -> (content type, accepted leading bytes)
TYPES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "ofd": ("application/ofd", _ZIP),  # GB/T 33190 版式文档, a ZIP container
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "tif": ("image/tiff", (b"II*\x00", b"MM\x00*")),
    "tiff": ("image/tiff", (b"II*\x00", b"MM\x00*")),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", _ZIP),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _ZIP),
    "doc": ("application/msword", _OLE),
    "xls": ("application/vnd.ms-excel", _OLE),
}


@dataclass(frozen=True)
class Upload:
    """A checked file: what the database row records about it."""

    filename: str
    content_type: str
    size: int
    sha256: str
    data: bytes


def check_upload(filename: str, data: bytes, field: str = "file") -> Upload:
    """The upload if its size, name and content are acceptable; else names ``field``."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or len(name) > MAX_FILENAME or any(ord(c) < 32 for c in name):
        raise InvalidInput("the file needs a name", fields={field: ["a file name is required"]})
    if not data:
        raise InvalidInput("the file is empty", fields={field: ["the file is empty"]})
    if len(data) > MAX_BYTES:
        limit = f"at most {MAX_BYTES // (1024 * 1024)} MiB"
        raise InvalidInput(f"the file is larger than allowed ({limit})", fields={field: [limit]})
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in TYPES:
        accepted = ", ".join(f".{e}" for e in TYPES)
        raise InvalidInput(f"{name!r}: unsupported file type", fields={field: [accepted]})
    content_type, magics = TYPES[extension]
    if not data.startswith(magics):
        raise InvalidInput(
            f"{name!r} is not a .{extension} file", fields={field: [f"not a .{extension} file"]}
        )
    return Upload(name, content_type, len(data), hashlib.sha256(data).hexdigest(), data)


def content_disposition(filename: str) -> str:
    """An attachment header that keeps a Chinese file name (RFC 6266 / RFC 5987)."""
    from urllib.parse import quote

    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


# ---------------------------------------------------------------------------
# The store follows the session's transaction.

_PENDING = "ems.documents.pending"


@dataclass
class _Pending:
    added: list[tuple[DocumentStore, str]]
    removed: list[tuple[DocumentStore, str]]


def _pending(session: Session) -> _Pending:
    found: _Pending | None = session.info.get(_PENDING)
    if found is None:
        found = _Pending([], [])
        session.info[_PENDING] = found
    return found


def put(session: Session, store: DocumentStore, key: str, upload: Upload) -> None:
    """Store the bytes now; they are removed again if the session's transaction rolls back."""
    store.put(key, upload.data, upload.content_type)
    _pending(session).added.append((store, key))


def remove_after_commit(session: Session, store: DocumentStore, key: str) -> None:
    """Remove the object once the deletion of its row has committed."""
    _pending(session).removed.append((store, key))


def _each(
    items: list[tuple[DocumentStore, str]], action: Callable[[DocumentStore, str], Any]
) -> None:
    for store, key in items:
        try:
            action(store, key)
        except StoreUnavailable:
            # The row is already gone (or never was): an orphaned object costs storage,
            # not correctness. Logged so an operator can sweep it.
            log.warning("could not remove document object %s; it is orphaned", key)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending: _Pending | None = session.info.pop(_PENDING, None)
    if pending is not None:
        _each(pending.removed, lambda store, key: store.delete(key))


@event.listens_for(Session, "after_transaction_end")
def _after_end(session: Session, transaction: SessionTransaction) -> None:
    # Still pending at the end of the outermost transaction: it did not commit.
    if transaction.parent is not None:
        return
    pending: _Pending | None = session.info.pop(_PENDING, None)
    if pending is not None:
        _each(pending.added, lambda store, key: store.delete(key))

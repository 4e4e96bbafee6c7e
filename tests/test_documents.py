"""The document store: S3 through boto3 (moto's server mode, a real HTTP endpoint) and the
local folder of the one-machine run; keys per tenant; the store following the transaction."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import assert_error

BASE = "/api/v1/tenants/alpha-works"
BUCKET = "ems-test-documents"
PDF = b"%PDF-1.4\n% stored in S3\n" + bytes(range(256))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def s3_settings(settings: Any) -> Iterator[Any]:
    """Settings pointing at a moto S3 server on a free port, with the bucket created."""
    from moto.server import ThreadedMotoServer

    from ems.documents.store import s3_client

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        s3 = dataclasses.replace(
            settings,
            documents_backend="s3",
            s3_endpoint=f"http://127.0.0.1:{port}",
            s3_bucket=BUCKET,
            s3_region="us-east-1",
            s3_access_key="testing",
            s3_secret_key="testing",
        )
        s3_client(s3).create_bucket(Bucket=BUCKET)
        yield s3
    finally:
        server.stop()


@pytest.fixture(scope="module")
def s3_app(s3_settings: Any, database: Any, world: Any) -> Any:
    """The API with the S3 backend (the session's app keeps the local default)."""
    from ems.app import create_app

    application = create_app(s3_settings, database)
    application.config["TESTING"] = True
    return application


def _keys(s3_settings: Any) -> list[str]:
    from ems.documents.store import s3_client

    listed = s3_client(s3_settings).list_objects_v2(Bucket=BUCKET)
    return [item["Key"] for item in listed.get("Contents", [])]


def test_s3_store_round_trip(s3_settings: Any) -> None:
    from ems.documents.store import ContentMissing, store_for, tenant_key

    store = store_for(s3_settings)
    key = tenant_key("t_alpha_works", "personnel", "1", "abc")
    store.put(key, PDF, "application/pdf")
    assert store.get(key) == PDF
    assert key in _keys(s3_settings)
    store.delete(key)
    store.delete(key)  # removing twice is harmless
    with pytest.raises(ContentMissing):
        store.get(key)


def test_local_store_round_trip(tmp_path: Path) -> None:
    from ems.documents.store import ContentMissing, DocumentError, LocalStore, tenant_key

    store = LocalStore(tmp_path)
    key = tenant_key("t_beta_works", "personnel", "2", "def")
    store.put(key, PDF, "application/pdf")
    assert (tmp_path / "t_beta_works" / "personnel" / "2" / "def").read_bytes() == PDF
    assert store.get(key) == PDF
    assert not list(tmp_path.rglob(".upload-*"))  # no half-written files left
    store.delete(key)
    with pytest.raises(ContentMissing):
        store.get(key)
    with pytest.raises(DocumentError):
        store.get("../outside")


@pytest.mark.parametrize("part", ["..", ".", "a/b", "", "x" * 101, "名字"])
def test_keys_take_only_safe_parts(part: str) -> None:
    from ems.documents.store import DocumentError, tenant_key

    with pytest.raises(DocumentError):
        tenant_key("t_alpha_works", part)


def test_the_default_backend_is_the_local_folder(settings: Any) -> None:
    from ems.documents.store import LocalStore, store_for

    store = store_for(settings)
    assert settings.documents_backend == "local"
    assert isinstance(store, LocalStore) and store.root == settings.data_dir / "documents"


def test_an_unknown_backend_is_refused(settings: Any) -> None:
    from ems.documents.store import DocumentError, store_for

    with pytest.raises(DocumentError, match="EMS_DOCUMENTS_BACKEND"):
        store_for(dataclasses.replace(settings, documents_backend="ftp"))


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("a.pdf", b"", "empty"),
        ("a.pdf", b"GIF89a", "not a .pdf file"),
        ("a.html", b"<html>", ".pdf"),
        ("noextension", b"%PDF-", ".pdf"),
        ("", b"%PDF-", "a file name is required"),
        ("bad\x01name.pdf", b"%PDF-", "a file name is required"),
    ],
)
def test_uploads_are_checked(name: str, data: bytes, problem: str) -> None:
    from ems.documents.files import check_upload
    from ems.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        check_upload(name, data)
    assert problem in " ".join(caught.value.fields["file"])


def test_accepted_types_and_what_is_recorded() -> None:
    from ems.documents.files import check_upload

    scan = check_upload(r"C:\scans\资格证书.JPG", b"\xff\xd8\xff\xe0rest")
    assert scan.filename == "资格证书.JPG" and scan.content_type == "image/jpeg"
    assert scan.sha256 == hashlib.sha256(b"\xff\xd8\xff\xe0rest").hexdigest()
    assert check_upload("证书.ofd", b"PK\x03\x04...").content_type == "application/ofd"


def test_the_store_follows_the_transaction(database: Any, world: Any, tmp_path: Path) -> None:
    """A put rolled back is removed; a removal happens only once its commit is done."""
    from sqlalchemy import text

    from ems.documents import files
    from ems.documents.store import LocalStore

    store = LocalStore(tmp_path)
    upload = files.check_upload("a.pdf", PDF)
    schema = world.tenants["alpha"].schema_name
    with database.session(schema) as s:
        s.execute(text("SELECT 1"))
        files.put(s, store, "t/rolled-back", upload)
        assert (tmp_path / "t" / "rolled-back").exists()
        s.rollback()
    assert not (tmp_path / "t" / "rolled-back").exists()

    store.put("t/kept", PDF, "application/pdf")
    with database.session(schema) as s:
        s.execute(text("SELECT 1"))
        files.remove_after_commit(s, store, "t/kept")
        s.rollback()
    assert (tmp_path / "t" / "kept").exists()
    with database.session(schema) as s:
        s.execute(text("SELECT 1"))
        files.remove_after_commit(s, store, "t/kept")
        assert (tmp_path / "t" / "kept").exists()
        s.commit()
    assert not (tmp_path / "t" / "kept").exists()


def _login(app: Any, world: Any, user: str) -> tuple[Any, dict[str, str]]:
    client = app.test_client()
    r = client.post(
        "/api/v1/auth/login", json={"email": world.users[user], "password": "correct-horse-battery"}
    )
    assert r.status_code == 200, r.get_json()
    return client, {"X-CSRF-Token": r.get_json()["csrf_token"]}


def test_documents_through_the_api_on_s3(s3_app: Any, s3_settings: Any, world: Any) -> None:
    client, headers = _login(s3_app, world, "alice")
    r = client.post(f"{BASE}/personnel", json={"name": "S3 测试"}, headers=headers)
    assert r.status_code == 201, r.get_json()
    person = r.get_json()["id"]
    form = {"file": (io.BytesIO(PDF), "资格证书.pdf"), "kind": "qualification", "title": "证书"}
    r = client.post(
        f"{BASE}/personnel/{person}/documents",
        data=form,
        headers=headers,
        content_type="multipart/form-data",
    )
    assert r.status_code == 201, r.get_json()
    doc = r.get_json()
    assert doc["sha256"] == hashlib.sha256(PDF).hexdigest() and doc["size"] == len(PDF)
    keys = [k for k in _keys(s3_settings) if k.startswith(f"t_alpha_works/personnel/{person}/")]
    assert len(keys) == 1  # the tenant's own prefix

    content = client.get(f"{BASE}/personnel/{person}/documents/{doc['id']}/content")
    assert content.status_code == 200 and content.data == PDF

    r = client.delete(f"{BASE}/personnel/{person}/documents/{doc['id']}", headers=headers)
    assert r.status_code == 204
    assert keys[0] not in _keys(s3_settings)


def test_a_tampered_object_is_refused_on_download(
    s3_app: Any, s3_settings: Any, world: Any
) -> None:
    from ems.documents.store import s3_client

    client, headers = _login(s3_app, world, "alice")
    person = client.post(f"{BASE}/personnel", json={"name": "篡改"}, headers=headers).get_json()
    form = {"file": (io.BytesIO(PDF), "a.pdf"), "kind": "archive", "title": "档案"}
    doc = client.post(
        f"{BASE}/personnel/{person['id']}/documents",
        data=form,
        headers=headers,
        content_type="multipart/form-data",
    ).get_json()
    key = next(k for k in _keys(s3_settings) if f"/personnel/{person['id']}/" in k)
    s3_client(s3_settings).put_object(Bucket=BUCKET, Key=key, Body=b"%PDF- changed")
    r = client.get(f"{BASE}/personnel/{person['id']}/documents/{doc['id']}/content")
    assert_error(r, 500, "document_corrupt")
    s3_client(s3_settings).delete_object(Bucket=BUCKET, Key=key)
    r = client.get(f"{BASE}/personnel/{person['id']}/documents/{doc['id']}/content")
    assert_error(r, 404, "document_content_missing")


def test_an_unreachable_store_writes_nothing(
    s3_settings: Any, database: Any, world: Any, app: Any
) -> None:
    from sqlalchemy import func, select

    from ems.app import create_app
    from ems.personnel.models import PersonDocument

    down = dataclasses.replace(s3_settings, s3_endpoint=f"http://127.0.0.1:{_free_port()}")
    broken = create_app(down, database)
    broken.config["TESTING"] = True
    client, headers = _login(broken, world, "alice")
    person = client.post(f"{BASE}/personnel", json={"name": "断网"}, headers=headers).get_json()
    form = {"file": (io.BytesIO(PDF), "a.pdf"), "kind": "archive", "title": "档案"}
    r = client.post(
        f"{BASE}/personnel/{person['id']}/documents",
        data=form,
        headers=headers,
        content_type="multipart/form-data",
    )
    assert_error(r, 503, "service_unavailable")
    with database.session(world.tenants["alpha"].schema_name) as s:
        stmt = select(func.count()).where(PersonDocument.person_id == person["id"])
        assert s.scalar(stmt) == 0

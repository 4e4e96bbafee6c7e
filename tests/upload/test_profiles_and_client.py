"""Province profiles, the platform client, registration and dictionaries, and the ciphers.

The answers the simulated platform never gives (a body that is not JSON, a register
reply without a deviceId, a dictionary entry without a code) come from a tiny HTTP
server in this module: it stands for the outside world, scripted per test. The
registration tests write to tenant alpha in a session that is rolled back.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ems.errors import EmsError
from ems.upload import crypto, profiles, registration
from ems.upload.client import Credentials, PlatformClient
from ems.upload.models import DictionaryEntry, DictionaryVersion, UploadRegistration, UploadRequest
from ems_provsim.crypto import FieldCipher, decrypt_pin_block
from tests.upload.codes_fixtures import add_dictionary

ENTERPRISE = "91530100MA6K1X2Y3A"
SECRET_KEY = "0123456789ABCDEF0123456789ABCDEF"  # a platform's 32-hex secretKey
DEVICE = "DEV-0001"

# --- profiles --------------------------------------------------------------------------------


def national() -> dict[str, Any]:
    """The national template as raw TOML data, to spoil one key at a time."""
    return tomllib.loads((profiles.PROFILE_DIR / "national.toml").read_text(encoding="utf-8"))


def problems_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(profiles.ProfileError) as caught:
        profiles.parse(raw, "test.toml")
    assert caught.value.source == "test.toml"
    assert str(caught.value).startswith("profile test.toml: ")
    return caught.value.problems


def test_every_shipped_profile_loads() -> None:
    files = sorted(profiles.PROFILE_DIR.glob("*.toml"))
    assert [f.stem for f in files] == ["anhui", "national", "shandong", "yunnan"]
    for path in files:
        profile = profiles.load_file(path)
        assert profile.code == path.stem
        assert profile.urls.keys() == set(profiles.URL_ROLES)
        assert (profile.auth == "bearer") == (profile.bearer is not None)
        assert profile.retry_messages  # the defaults when the file names none
    assert set(profiles.all_profiles()) == {f.stem for f in files}
    assert profiles.get("yunnan").bearer == profiles.Bearer("/YNEnergy/requestAK", 300)
    with pytest.raises(KeyError):
        profiles.get("hainan")


def test_the_national_template_parses_as_it_reads() -> None:
    profile = profiles.parse(national(), "national.toml")
    assert profile.timeout_seconds == 30.0 and isinstance(profile.timeout_seconds, float)
    assert profile.code_dictionaries["04"] == 10
    assert profile.format_code("0401000004020030") == "04-01-0000-040200-30"
    assert profile.encode_valid(True) is True


def _without(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda raw: raw.pop(key)


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda raw: raw.__setitem__(key, value)


def _bearer_without_section(raw: dict[str, Any]) -> None:
    raw["auth"] = "bearer"


def _section_for_auth_none(raw: dict[str, Any]) -> None:
    raw["bearer"] = {"access_key_path": "/ak", "renew_before_seconds": 300}


def _bearer_missing_renewal(raw: dict[str, Any]) -> None:
    raw["auth"] = "bearer"
    raw["bearer"] = {"access_key_path": "/ak"}


def _url_role_missing(raw: dict[str, Any]) -> None:
    del raw["urls"]["dictionary"]


def _url_role_unknown(raw: dict[str, Any]) -> None:
    raw["urls"]["statistics"] = "centerStatURL"


def _url_role_empty(raw: dict[str, Any]) -> None:
    raw["urls"]["data"] = ""


def _dictionary_item_18(raw: dict[str, Any]) -> None:
    raw["code_dictionaries"]["03"] = 18


def _dictionary_item_text(raw: dict[str, Any]) -> None:
    raw["code_dictionaries"]["03"] = "9"


def _dictionary_for_type_08(raw: dict[str, Any]) -> None:
    raw["code_dictionaries"]["08"] = 8


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (_without("success_code"), "success_code: missing"),
        (_without("urls"), "urls: missing"),
        (_without("code"), "code: missing"),
        (_set("batch_size", "500"), "batch_size: must be int, got str"),
        (_set("batch_size", True), "batch_size: must be int, got bool"),
        (_set("batch_size", 500.0), "batch_size: must be int, got float"),
        (_set("name", 7), "name: must be str, got int"),
        (_set("timeout_seconds", "30"), "timeout_seconds: must be float, got str"),
        (_set("urls", "loadDicVersionURL"), "urls: must be dict, got str"),
        (_set("colour", "blue"), "colour: unknown key"),
        (_set("code_format", "dashed"), "code_format: 'dashed' is not one of hyphenated, plain"),
        (_set("valid_encoding", "yes"), "valid_encoding: 'yes' is not one of"),
        (_set("compression", "zstd"), "compression: 'zstd' is not one of"),
        (_set("field_encryption", "des"), "field_encryption: 'des' is not one of"),
        (_set("auth", "basic"), "auth: 'basic' is not one of"),
        (_set("adapter", "hainan"), "adapter: 'hainan' is not one of"),
        (_set("realtime_minutes", 20), "realtime_minutes: must be 15, 30 or 60"),
        (_set("realtime_minutes", 120), "realtime_minutes: must be 15, 30 or 60"),
        (_set("batch_size", 0), "batch_size: must be 1..5000"),
        (_set("batch_size", 5001), "batch_size: must be 1..5000"),
        (_set("timeout_seconds", 0), "timeout_seconds: must be in (0, 300]"),
        (_set("timeout_seconds", 301), "timeout_seconds: must be in (0, 300]"),
        (_set("register_path", "api/register"), "register_path: must start with /"),
        (_set("code", "National"), "code: lower-case letters"),
        (_set("retry_messages", ["解密失败", ""]), "retry_messages: must be a list"),
        (_set("retry_messages", "解密失败"), "retry_messages: must be a list"),
        (_bearer_without_section, "bearer: auth = 'bearer' needs a [bearer] section"),
        (_section_for_auth_none, "bearer: only for auth = 'bearer'"),
        (_bearer_missing_renewal, "bearer.renew_before_seconds: missing"),
        (_url_role_missing, "urls.dictionary: missing"),
        (_url_role_empty, "urls.data: missing"),
        (_url_role_unknown, "urls.statistics: unknown role"),
        (_dictionary_item_18, "code_dictionaries.03: must be a dictionary item 1..17"),
        (_dictionary_item_text, "code_dictionaries.03: must be a dictionary item 1..17"),
        (_dictionary_for_type_08, "code_dictionaries.08: not a data type 01..07"),
    ],
)
def test_a_profile_problem_is_named_with_its_key(
    spoil: Callable[[dict[str, Any]], None], problem: str
) -> None:
    raw = national()
    spoil(raw)
    found = problems_of(raw)
    assert len(found) >= 1
    assert any(p.startswith(problem) for p in found), found


def test_every_problem_is_listed_at_once() -> None:
    raw = national()
    del raw["name_en"]
    raw["realtime_minutes"] = 20
    raw["compression"] = "brotli"
    raw["colour"] = "blue"
    del raw["urls"]["meters"]
    raw["code_dictionaries"]["05"] = 0
    found = problems_of(raw)
    assert len(found) == 6, found
    for key in (
        "name_en: missing",
        "realtime_minutes:",
        "compression:",
        "colour: unknown key",
        "urls.meters: missing",
        "code_dictionaries.05:",
    ):
        assert sum(p.startswith(key) for p in found) == 1, (key, found)


def test_an_empty_file_names_every_required_key() -> None:
    found = problems_of({})
    required = [
        "code", "name", "name_en", "success_code", "register_path", "timestamp_format",
        "timeout_seconds", "batch_size", "realtime_minutes", "adapter", "code_format",
        "valid_encoding", "compression", "field_encryption", "auth", "urls",
        "code_dictionaries",
    ]  # fmt: skip
    for key in required:
        assert f"{key}: missing" in found, (key, found)
    for role in profiles.URL_ROLES:
        assert f"urls.{role}: missing (the register reply's key for it)" in found


@pytest.mark.parametrize(
    "content",
    [
        b'code = "national"\n[urls\n',  # not TOML
        b'code = "national"\ncode = "anhui"\n',  # a key twice
        b"\xff\xfe not UTF-8",
    ],
)
def test_a_file_that_is_not_toml_cannot_be_read(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.toml"
    path.write_bytes(content)
    with pytest.raises(profiles.ProfileError) as caught:
        profiles.load_file(path)
    assert caught.value.source == "broken.toml"
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("cannot be read: ")


def test_a_missing_file_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(profiles.ProfileError) as caught:
        profiles.load_file(tmp_path / "hainan.toml")
    assert caught.value.problems[0].startswith("cannot be read: ")


def test_the_code_must_equal_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "hainan.toml"
    path.write_bytes((profiles.PROFILE_DIR / "national.toml").read_bytes())
    with pytest.raises(profiles.ProfileError) as caught:
        profiles.load_file(path)
    assert caught.value.problems == ["code: 'national' must equal the file name"]


def test_a_file_with_problems_names_them(tmp_path: Path) -> None:
    text = (profiles.PROFILE_DIR / "national.toml").read_text(encoding="utf-8")
    path = tmp_path / "national.toml"
    path.write_text(text.replace("batch_size = 500", "batch_size = 0"), encoding="utf-8")
    with pytest.raises(profiles.ProfileError) as caught:
        profiles.load_file(path)
    assert caught.value.source == "national.toml"
    assert caught.value.problems == ["batch_size: must be 1..5000"]


# --- the outside world: a scripted platform --------------------------------------------------

Answer = tuple[int, Any]  # HTTP status, then a dict/list (sent as JSON) or str (sent as is)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.loads(raw) if raw else {}
        fake.seen.append((self.path, body))
        route = fake.routes.get(self.path)
        status, answer = (404, "no such path") if route is None else route(body)
        if isinstance(answer, str):
            data, kind = answer.encode("utf-8"), "text/html; charset=utf-8"
        else:
            data, kind = json.dumps(answer, ensure_ascii=False).encode(), "application/json"
        try:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up waiting (the timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, fake: FakePlatform) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)


class FakePlatform:
    """A platform answering what the test scripts, path by path; remembers what it was sent."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[dict[str, Any]], Answer]] = {}
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, path: str, status: int, body: Any) -> None:
        self.routes[path] = lambda _: (status, body)

    def urls(self) -> dict[str, str]:
        """Service URLs, by role, as a registration would have stored them."""
        return {role: f"{self.base_url}/{role}" for role in profiles.URL_ROLES}

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    platform = FakePlatform()
    yield platform
    platform.stop()


def client_of(
    fake: FakePlatform, profile: str = "national", *, timeout: float = 2.0, **creds: Any
) -> PlatformClient:
    credentials = Credentials(
        enterprise_code=ENTERPRISE,
        region_code="530100",
        device_id=DEVICE,
        secret_key=SECRET_KEY,
        **creds,
    )
    return PlatformClient(
        profiles.get(profile), fake.base_url, credentials, fake.urls(), timeout=timeout
    )


def ok(**fields: Any) -> dict[str, Any]:
    return {"responseCode": "0", "responseMessage": "成功", **fields}


def register_reply(**override: Any) -> dict[str, Any]:
    """A complete national register reply; ``None`` values are left out."""
    base = "http://127.0.0.1:1/api"
    reply = ok(
        responseMessage="注册成功",
        deviceId=DEVICE,
        secretKey=SECRET_KEY,
        uploadTime="02:30",
        regVersion=1,
        loadDicVersionURL=f"{base}/loadDicVersion",
        centerDataURL=f"{base}/centerData",
        centerInfoURL=f"{base}/centerInfo",
        centerMeteringDataURL=f"{base}/centerMeteringData",
        downloadBaseDataURL=f"{base}/downloadBaseData",
    )
    reply.update(override)
    return {k: v for k, v in reply.items() if v is not None}


# --- the client: how an answer is classified -------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "outcome", "message"),
    [
        (
            200,
            "<html>maintenance</html>",
            "error",
            "HTTP 200: the answer is not the protocol's JSON",
        ),
        (200, "", "error", "HTTP 200: the answer is not the protocol's JSON"),
        (200, ["0"], "error", "HTTP 200: the answer is not the protocol's JSON"),
        (200, "null", "error", "HTTP 200: the answer is not the protocol's JSON"),
        (503, "<h1>503 Service Unavailable</h1>", "error", "HTTP 503: the answer is not"),
        (503, {"responseCode": "0", "responseMessage": "维护中"}, "error", "维护中"),
        (500, {"responseCode": "500"}, "error", None),
        (200, {"responseCode": "1", "responseMessage": "企业未开户"}, "refused", "企业未开户"),
        (400, {"responseCode": "400", "responseMessage": "参数错误"}, "refused", "参数错误"),
        (200, {"responseCode": "1"}, "refused", "HTTP 200, responseCode '1'"),
        (200, {"responseMessage": "成功"}, "refused", "成功"),
        (200, {"responseCode": "0", "responseMessage": "成功"}, "accepted", "成功"),
        (200, {"responseCode": 0}, "accepted", None),  # a number is compared as text
        # A 4xx is never success, whatever its body says.
        (403, {"responseCode": "0", "responseMessage": "成功"}, "refused", "成功"),
    ],
)
def test_answers_are_classified(
    fake: FakePlatform, status: int, body: Any, outcome: str, message: str | None
) -> None:
    fake.answer("/version", status, body)
    with client_of(fake) as client:
        exchange = client.version()
    assert exchange.outcome == outcome
    assert exchange.ok is (outcome == "accepted")
    assert exchange.http_status == status
    assert exchange.endpoint == "version" and exchange.url == fake.base_url + "/version"
    if message is None:
        assert exchange.message is None
    else:
        assert exchange.message is not None and exchange.message.startswith(message)
    assert exchange.response_excerpt is not None
    assert client.exchanges == [exchange]
    assert fake.seen == [("/version", {"deviceId": DEVICE})]


def test_success_code_is_the_profiles(fake: FakePlatform) -> None:
    """Yunnan succeeds with "200": a "0" there is a refusal."""
    fake.answer("/YNEnergy/register", 200, {"responseCode": "200", "responseMessage": "成功"})
    with client_of(fake, "yunnan", pin="204816") as client:
        assert client.register().outcome == "accepted"
    fake.answer("/YNEnergy/register", 200, {"responseCode": "0", "responseMessage": "成功"})
    with client_of(fake, "yunnan", pin="204816") as client:
        refused = client.register()
    assert (refused.outcome, refused.response_code, refused.message) == ("refused", "0", "成功")


def test_no_answer_in_time_is_a_timeout(fake: FakePlatform) -> None:
    def slow(_: dict[str, Any]) -> Answer:
        time.sleep(1.0)
        return 200, ok()

    fake.routes["/version"] = slow
    with client_of(fake, timeout=0.2) as client:
        exchange = client.version()
    assert exchange.outcome == "timeout"
    assert exchange.message == "no answer within 0.2 s"
    assert exchange.http_status is None and exchange.response_excerpt is None
    assert exchange.request_excerpt is not None


def test_a_closed_port_is_unreachable() -> None:
    credentials = Credentials(enterprise_code=ENTERPRISE, region_code="530100")
    with PlatformClient(profiles.get("national"), "http://127.0.0.1:9", credentials) as client:
        exchange = client.register()
    assert exchange.outcome == "unreachable"
    assert exchange.message and exchange.message.startswith("ConnectionError")
    assert exchange.http_status is None


def test_without_device_id_or_url_nothing_is_sent(fake: FakePlatform) -> None:
    credentials = Credentials(enterprise_code=ENTERPRISE, region_code="530100")
    unregistered = PlatformClient(profiles.get("national"), fake.base_url, credentials, fake.urls())
    with unregistered, pytest.raises(crypto.CipherError, match="no device id"):
        unregistered.version()
    with client_of(fake) as client:
        client.urls.pop("dictionary")
        with pytest.raises(crypto.CipherError, match="no dictionary URL"):
            client.dictionary(8)
    assert fake.seen == []


def test_an_mtls_profile_needs_a_certificate_that_opens(fake: FakePlatform) -> None:
    with pytest.raises(crypto.CipherError, match="client certificate"):
        client_of(fake, "anhui")
    with pytest.raises(crypto.CipherError, match="cannot be opened"):
        client_of(fake, "anhui", client_p12=b"not PKCS#12")


# --- the client: secrets never reach the log ---------------------------------------------------


def test_register_excerpt_hides_the_secret_key(fake: FakePlatform) -> None:
    fake.answer("/api/register", 200, register_reply())
    with client_of(fake) as client:
        exchange = client.register()
    assert exchange.ok
    assert exchange.body["secretKey"] == SECRET_KEY  # the caller gets it ...
    assert exchange.response_excerpt is not None and exchange.request_excerpt is not None
    assert SECRET_KEY not in exchange.response_excerpt  # ... the log does not
    assert '"secretKey": "***"' in exchange.response_excerpt
    assert DEVICE in exchange.response_excerpt


def test_access_key_excerpts_hide_password_and_key(fake: FakePlatform) -> None:
    pin = "204816"
    access_key = "AK-5f0c2d7e9b"
    fake.answer("/YNEnergy/requestAK", 200, {"responseCode": "200", "accessKey": access_key,
                                              "expiresIn": 7200})  # fmt: skip
    fake.answer("/version", 200, {"responseCode": "200", "dicVersion": 3})
    with client_of(fake, "yunnan", pin=pin) as client:
        version = client.version()
        asked, sent_version = client.exchanges
    assert version.ok and sent_version is version
    assert asked.endpoint == "access_key" and asked.ok
    password = crypto.encrypt_pin(pin, SECRET_KEY, ENTERPRISE)
    sent = dict(fake.seen)["/YNEnergy/requestAK"]
    assert sent["password"] == password
    assert decrypt_pin_block(password, SECRET_KEY, ENTERPRISE) == pin  # the platform reads it
    for text in (asked.request_excerpt, asked.response_excerpt):
        assert text is not None
        assert password not in text and access_key not in text and pin not in text
    assert '"password": "***"' in (asked.request_excerpt or "")
    assert '"accessKey": "***"' in (asked.response_excerpt or "")
    assert client.renewed_access_key is not None and client.renewed_access_key[0] == access_key


def test_an_access_key_answer_without_the_key_is_an_error(fake: FakePlatform) -> None:
    fake.answer("/YNEnergy/requestAK", 200, {"responseCode": "200", "expiresIn": 7200})
    fake.answer("/version", 200, {"responseCode": "200"})
    with client_of(fake, "yunnan", pin="204816") as client:
        client.version()
        asked = client.exchanges[0]
    assert asked.outcome == "error"
    assert asked.message == "the access key answer lacks accessKey or expiresIn"
    assert client.renewed_access_key is None


def test_long_lists_are_cut_in_the_excerpt(fake: FakePlatform) -> None:
    fake.answer("/meters", 200, ok())
    rows = [{"managementNumber": f"M{i}", "password": "hunter2"} for i in range(50)]
    with client_of(fake) as client:
        exchange = client.meters(rows)
    assert exchange.rows == 50
    assert exchange.request_excerpt is not None
    assert "... 47 more" in exchange.request_excerpt
    assert "hunter2" not in exchange.request_excerpt
    assert len(fake.seen[0][1]["data"]) == 50  # the platform got every row


# --- registration and dictionaries against the scripted platform --------------------------------


@pytest.fixture
def alpha(database: Any, world: Any) -> Iterator[Any]:
    """A session on tenant alpha, rolled back at the end."""
    session = database.session(world.tenants["alpha"].schema_name)
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@pytest.fixture
def secret(settings: Any) -> str:
    return str(settings.secret_key)


def new_registration(session: Any, fake: FakePlatform, **extra: Any) -> UploadRegistration:
    columns: dict[str, Any] = {
        "profile": "national",
        "base_url": fake.base_url,
        "enterprise_code": ENTERPRISE,
        "region_code": "530100",
        "enabled": True,
        "realtime_minutes": 15,
        "status": "new",
        "urls": {},
        "consecutive_failures": 0,
    }
    reg = UploadRegistration(**{**columns, **extra})
    session.add(reg)
    session.flush()
    return reg


def requests_of(session: Any, reg: UploadRegistration) -> list[UploadRequest]:
    session.flush()
    stmt = select(UploadRequest).where(UploadRequest.registration_id == reg.id)
    return list(session.scalars(stmt.order_by(UploadRequest.id)))


def test_a_complete_register_answer_is_stored_sealed(
    alpha: Any, fake: FakePlatform, secret: str
) -> None:
    fake.answer("/api/register", 200, register_reply())
    reg = new_registration(alpha, fake)
    with registration.client_factory(secret)(reg) as client:
        exchange = registration.register(alpha, reg, client, secret)
    assert exchange.ok
    assert (reg.status, reg.device_id, reg.upload_time, reg.reg_version) == (
        "registered",
        DEVICE,
        "02:30",
        "1",
    )
    assert (
        reg.secret_key is not None and crypto.unseal(secret, reg.secret_key) == SECRET_KEY.encode()
    )
    assert set(reg.urls) == set(profiles.URL_ROLES)
    [row] = requests_of(alpha, reg)
    assert (row.endpoint, row.outcome) == ("register", "accepted")
    assert SECRET_KEY not in (row.response_excerpt or "")


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"deviceId": None}, "deviceId missing"),
        ({"deviceId": ""}, "deviceId missing"),
        ({"deviceId": 17}, "deviceId missing"),
        ({"secretKey": None}, "secretKey missing"),
        ({"centerDataURL": None}, "centerDataURL missing"),
        ({"downloadBaseDataURL": ""}, "downloadBaseDataURL missing"),
    ],
)
def test_an_incomplete_register_answer_fails_the_registration(
    alpha: Any, fake: FakePlatform, secret: str, override: dict[str, Any], named: str
) -> None:
    fake.answer("/api/register", 200, register_reply(**override))
    reg = new_registration(alpha, fake)
    with registration.client_factory(secret)(reg) as client:
        exchange = registration.register(alpha, reg, client, secret)
    assert exchange.outcome == "error"
    assert exchange.message is not None and named in exchange.message
    assert exchange.message.startswith("registration answer incomplete: ")
    assert reg.status == "failed"
    assert (reg.device_id, reg.secret_key, reg.urls, reg.registered_at) == (None, None, {}, None)
    [row] = requests_of(alpha, reg)
    assert (row.endpoint, row.outcome, row.http_status) == ("register", "error", 200)
    assert row.message is not None and named in row.message
    assert SECRET_KEY not in (row.response_excerpt or "")


def test_a_refused_registration_keeps_the_platforms_message(
    alpha: Any, fake: FakePlatform, secret: str
) -> None:
    fake.answer(
        "/api/register", 200, {"responseCode": "1", "responseMessage": "统一社会信用代码格式错误"}
    )
    reg = new_registration(alpha, fake)
    with registration.client_factory(secret)(reg) as client:
        exchange = registration.register(alpha, reg, client, secret)
    assert exchange.outcome == "refused"
    assert reg.status == "failed" and reg.device_id is None
    [row] = requests_of(alpha, reg)
    assert (row.outcome, row.response_code, row.message) == (
        "refused",
        "1",
        "统一社会信用代码格式错误",
    )


def test_a_failed_new_registration_keeps_the_old_credentials(
    alpha: Any, fake: FakePlatform, secret: str
) -> None:
    fake.answer("/api/register", 200, register_reply(deviceId=None))
    old_key = crypto.seal(secret, b"F" * 32)
    reg = new_registration(
        alpha,
        fake,
        status="registered",
        device_id="OLD-DEVICE",
        secret_key=old_key,
        urls=fake.urls(),
    )
    with registration.client_factory(secret)(reg) as client:
        exchange = registration.register(alpha, reg, client, secret)
    assert exchange.outcome == "error"
    assert (reg.device_id, reg.secret_key, reg.urls) == ("OLD-DEVICE", old_key, fake.urls())
    # ... and keeps uploading with them: a blip during a re-registration stops nothing.
    assert reg.status == "registered"


def good_entries(item: int) -> list[dict[str, Any]]:
    return [{"code": f"{item:02d}", "name": f"条目 {item}", "unit": "t", "precision": 2}]


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ({"data": [{"name": "电力", "unit": "kWh"}]}, "item 8: an entry lacks code or name"),
        ({"data": [{"code": "", "name": "电力"}]}, "item 8: an entry lacks code or name"),
        ({"data": [{"code": 1200, "name": "电力"}]}, "item 8: an entry lacks code or name"),
        ({"data": [{"code": "1200"}]}, "item 8: an entry lacks code or name"),
        ({"data": ["1200"]}, "item 8: an entry is not an object"),
        (
            {"data": [{"code": "1200", "name": "电力", "precision": "x"}]},
            "item 8, code 1200: precision 'x' is not 0..8",
        ),
        (
            {"data": [{"code": "1200", "name": "电力", "precision": 9}]},
            "item 8, code 1200: precision 9 is not 0..8",
        ),
        (
            {"data": [{"code": "1200", "name": "电力", "precision": True}]},
            "item 8, code 1200: precision True is not 0..8",
        ),
        (
            {"data": [{"code": "1200", "name": "电力", "coefficient": "abc"}]},
            "item 8, code 1200: coefficient is not a number",
        ),
        ({"data": "1200"}, "item 8: the answer has no data list"),
        ({}, "item 8: the answer has no data list"),
    ],
)
def test_a_malformed_dictionary_is_kept_but_never_put_in_use(
    alpha: Any, fake: FakePlatform, secret: str, bad: dict[str, Any], named: str
) -> None:
    fake.answer("/version", 200, ok(dicVersion=4, regVersion=1))

    def dictionary(body: dict[str, Any]) -> Answer:
        item = body["item"]
        if item == 8:
            return 200, ok(item=item, **copy.deepcopy(bad))
        return 200, ok(item=item, data=good_entries(item))

    fake.routes["/dictionary"] = dictionary
    reg = new_registration(
        alpha, fake, status="registered", device_id=DEVICE, urls=fake.urls(), dic_version="3"
    )
    add_dictionary(alpha, reg.id, "3")
    in_use_before = alpha.scalar(
        select(func.count()).where(DictionaryEntry.registration_id == reg.id)
    )

    with registration.client_factory(secret)(reg) as client:
        exchange = registration.check_version(alpha, reg, client, secret)

    assert exchange.ok and reg.checked_at is not None
    assert reg.dic_version == "3"  # still the complete one
    stored = alpha.get(DictionaryVersion, (reg.id, "4"))
    assert stored is not None
    assert (stored.complete, stored.items, stored.entries) == (False, 7, 7)
    assert [body["item"] for path, body in fake.seen if path == "/dictionary"] == list(range(1, 9))
    rows = requests_of(alpha, reg)
    assert [r.endpoint for r in rows] == ["version"] + ["dictionary"] * 8
    assert [r.outcome for r in rows[:-1]] == ["accepted"] * 8
    assert rows[-1].outcome == "error"
    assert rows[-1].message is not None and named in rows[-1].message
    old = alpha.scalar(
        select(func.count()).where(
            DictionaryEntry.registration_id == reg.id, DictionaryEntry.version == "3"
        )
    )
    assert old == in_use_before


def test_a_complete_dictionary_is_put_in_use(alpha: Any, fake: FakePlatform, secret: str) -> None:
    fake.answer("/version", 200, ok(dicVersion="5"))
    fake.routes["/dictionary"] = lambda body: (200, ok(data=good_entries(body["item"]) * 2))
    reg = new_registration(alpha, fake, status="registered", device_id=DEVICE, urls=fake.urls())
    with registration.client_factory(secret)(reg) as client:
        registration.check_version(alpha, reg, client, secret)
    assert reg.dic_version == "5"
    stored = alpha.get(DictionaryVersion, (reg.id, "5"))
    assert stored is not None
    assert (stored.complete, stored.items, stored.entries) == (True, 17, 17)  # duplicates once


def test_a_failed_dictionary_download_stops_there(
    alpha: Any, fake: FakePlatform, secret: str
) -> None:
    fake.answer("/version", 200, ok(dicVersion="5"))

    def dictionary(body: dict[str, Any]) -> Answer:
        if body["item"] == 3:
            return 503, "<h1>down</h1>"
        return 200, ok(data=good_entries(body["item"]))

    fake.routes["/dictionary"] = dictionary
    reg = new_registration(alpha, fake, status="registered", device_id=DEVICE, urls=fake.urls())
    with registration.client_factory(secret)(reg) as client:
        registration.check_version(alpha, reg, client, secret)
    assert reg.dic_version is None
    stored = alpha.get(DictionaryVersion, (reg.id, "5"))
    assert stored is not None and (stored.complete, stored.items) == (False, 2)
    assert requests_of(alpha, reg)[-1].outcome == "error"


# --- ciphers -------------------------------------------------------------------------------------


def test_seal_and_unseal() -> None:
    sealed = crypto.seal("platform secret", b"204816")
    assert b"204816" not in sealed
    assert crypto.unseal("platform secret", sealed) == b"204816"
    assert crypto.seal("platform secret", b"204816") != sealed  # a fresh nonce each time
    with pytest.raises(EmsError, match="cannot be opened"):
        crypto.unseal("another platform secret", sealed)
    damaged = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(EmsError, match="cannot be opened"):
        crypto.unseal("platform secret", damaged)
    with pytest.raises(EmsError, match="EMS_SECRET_KEY"):
        crypto.seal("", b"204816")


@pytest.mark.parametrize("kind", ["sm4-ecb", "aes-128-ecb"])
@pytest.mark.parametrize("text", ["11.25", "0000000002120002", "2026-11-10 00:00:00", "电力", ""])
def test_field_ciphers_round_trip(kind: str, text: str) -> None:
    key = crypto.field_key(SECRET_KEY)
    hidden = crypto.encrypt_field(kind, key, text)
    assert hidden == hidden.upper() and len(hidden) % 32 == 0
    assert crypto.decrypt_field(kind, key, hidden) == text
    assert FieldCipher(kind, SECRET_KEY).decrypt(hidden) == text  # the simulator reads it too


def test_the_two_field_ciphers_differ() -> None:
    key = crypto.field_key(SECRET_KEY)
    assert crypto.encrypt_field("sm4-ecb", key, "11.25") != crypto.encrypt_field(
        "aes-128-ecb", key, "11.25"
    )


@pytest.mark.parametrize("kind", ["sm4-ecb", "aes-128-ecb"])
def test_a_field_does_not_decrypt_with_another_key(kind: str) -> None:
    hidden = crypto.encrypt_field(kind, crypto.field_key(SECRET_KEY), "11.25")
    other = crypto.field_key("F" * 32)
    with pytest.raises(crypto.CipherError, match="does not decrypt"):
        crypto.decrypt_field(kind, other, hidden)
    with pytest.raises(crypto.CipherError):
        crypto.decrypt_field(kind, crypto.field_key(SECRET_KEY), "not hex")
    with pytest.raises(crypto.CipherError):
        crypto.decrypt_field(kind, crypto.field_key(SECRET_KEY), hidden[:-2])  # not whole blocks


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: crypto.field_key("not hex at all"), "not hexadecimal"),
        (lambda: crypto.field_key("0123456789ABCDEF"), "32 hex digits"),
        (lambda: crypto.encrypt_field("des-ecb", b"k" * 16, "1"), "unknown field encryption"),
        (lambda: crypto.encrypt_field("sm4-ecb", b"k" * 15, "1"), "16-byte key"),
        (lambda: crypto.encrypt_pin("123456", "short", ENTERPRISE), "16 characters"),
    ],
)
def test_bad_keys_are_named(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(crypto.CipherError, match=message):
        call()


def test_pin_block() -> None:
    assert crypto.pin_block("123456") == "06123456FFFFFFFF"
    assert crypto.pin_block("1234") == "041234FFFFFFFFFF"
    assert crypto.pin_block("12345678901234") == "1412345678901234"


@pytest.mark.parametrize(
    "pin", ["123", "", "123456789012345", "12a456", "12 456", "２０４８１６", "204816\n"]
)
def test_a_pin_that_is_not_4_to_14_digits_is_refused(pin: str) -> None:
    with pytest.raises(crypto.CipherError, match="4 to 14 digits"):
        crypto.pin_block(pin)
    with pytest.raises(crypto.CipherError):
        crypto.encrypt_pin(pin, SECRET_KEY, ENTERPRISE)


def test_the_pin_password_is_what_the_platform_decrypts() -> None:
    password = crypto.encrypt_pin("204816", SECRET_KEY, ENTERPRISE)
    assert len(password) == 32 and password == password.upper()
    assert decrypt_pin_block(password, SECRET_KEY, ENTERPRISE) == "204816"

"""Fixtures of the simulator tests: a simulator per test and a small, independent client.

The client here is written from the protocol description alone (its own TOML reading, its own
SM4/AES and PIN block with ``cryptography``), so these tests check the simulator against the
protocol, not against its own code. No database is involved.
"""

from __future__ import annotations

import gzip
import json
import tomllib
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ems_provsim.server import Simulator, TlsFiles
from ems_provsim.testing import PkiFiles, make_pki

PROFILES_DIR = Path(__file__).resolve().parents[2] / "platform" / "ems" / "upload" / "profiles"
PROFILES = ("national", "shandong", "yunnan", "anhui")
CODE = "91330000573973053F"
REGION = "330100"
PIN = "123456"
# digits: process 02 炼铁, unit 01 1号高炉, no equipment, 02 secondary energy, 1200 电力, 02 消费量
ELECTRICITY = "0201000002120002"
# whole plant, 01 primary energy, 0000 comprehensive consumption (tce, 4 decimals), 02 消费量
COMPREHENSIVE = "0000000001000002"


def profile_toml(name: str) -> dict[str, Any]:
    """The profile as the test reads it, independently of the simulator."""
    return tomllib.loads((PROFILES_DIR / f"{name}.toml").read_text(encoding="utf-8"))


def hyphenate(digits: str) -> str:
    """16 digits as 2-2-4-6-2."""
    return "-".join((digits[0:2], digits[2:4], digits[4:8], digits[8:14], digits[14:16]))


def ecb_encrypt(algorithm: str, key_hex: str, text: str) -> str:
    """hex(E(pkcs7(text))) upper case, E = SM4-ECB or AES-128-ECB keyed with the secretKey."""
    key = bytes.fromhex(key_hex)
    block = algorithms.SM4(key) if algorithm == "sm4-ecb" else algorithms.AES(key)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(text.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(block, modes.ECB()).encryptor()  # noqa: S305 - the province's scheme
    return (encryptor.update(padded) + encryptor.finalize()).hex().upper()


def pin_password(pin: str, secret_key: str, enterprise_code: str) -> str:
    """The Yunnan password: SM4-CBC (no padding) of the PIN block, hex upper case."""
    block = (f"{len(pin):02d}{pin}").ljust(16, "F").encode("ascii")
    cipher = Cipher(
        algorithms.SM4(secret_key[:16].encode("ascii")),
        modes.CBC(enterprise_code[:16].encode("ascii")),
    )
    encryptor = cipher.encryptor()
    return (encryptor.update(block) + encryptor.finalize()).hex().upper()


def row(**changes: Any) -> dict[str, Any]:
    """A logical row (code as 16 digits, valid as bool): electricity of blast furnace 1, a day."""
    base: dict[str, Any] = {
        "dataCode": ELECTRICITY,
        "dataValue": Decimal("12345.67"),
        "inputType": 2,
        "statType": 1,
        "statDate": "2024-05-01 00:00:00",
        "uploadDate": "2024-05-02 01:38:00",
        "scope": 3,
        "valid": True,
    }
    return {**base, **changes}


def _dump(payload: Any) -> str:
    """JSON with Decimals written as numbers, keeping their decimals."""
    placeholder: dict[str, str] = {}

    def swap(value: Any) -> Any:
        if isinstance(value, Decimal):
            token = f"__DECIMAL_{len(placeholder)}__"
            placeholder[f'"{token}"'] = str(value)
            return token
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    text = json.dumps(swap(payload), ensure_ascii=False)
    for token, number in placeholder.items():
        text = text.replace(token, number)
    return text


class ProvinceClient:
    """A minimal client of one simulated province, built on ``requests``."""

    def __init__(self, sim: Simulator, profile: str, session: requests.Session) -> None:
        self.sim = sim
        self.settings = profile_toml(profile)
        self.session = session
        self.code = CODE
        self.region = REGION
        self.registration: dict[str, Any] = {}

    @property
    def urls(self) -> dict[str, str]:
        """Service URLs by role (version, data, ...), from the register reply."""
        names = self.settings["urls"]
        return {role: self.registration[name] for role, name in names.items()}

    def post(
        self, url: str, payload: Any, *, raw: bytes | None = None, compress: bool | None = None
    ) -> requests.Response:
        """POST a JSON body, gzip-compressed when the profile says so (or ``compress`` forces)."""
        body = raw if raw is not None else _dump(payload).encode("utf-8")
        headers = {"Content-Type": "application/json;charset=UTF-8"}
        if compress if compress is not None else self.settings["compression"] == "gzip":
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        if not url.startswith("http"):
            url = self.sim.base_url + url
        # verify is passed per request: REQUESTS_CA_BUNDLE in the environment beats session.verify.
        return self.session.post(
            url, data=body, headers=headers, timeout=10, verify=self.session.verify
        )

    def ok(self, response: requests.Response) -> dict[str, Any]:
        """The JSON answer, asserted to be the profile's success."""
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        assert answer["responseCode"] == self.settings["success_code"], answer
        return answer

    def refused(self, response: requests.Response) -> str:
        """The message of a refusal answered with HTTP 200 and the failure code."""
        assert response.status_code == 200, response.text
        answer = response.json()
        failure = "500" if self.settings["success_code"] == "200" else "1"
        assert answer["responseCode"] == failure, answer
        message: str = answer["responseMessage"]
        return message

    def register(self) -> dict[str, Any]:
        """Register, then (bearer profiles) fetch an access key."""
        payload = {"enterpriseCode": self.code, "region": self.region}
        self.registration = self.ok(self.post(self.settings["register_path"], payload))
        if self.settings["auth"] == "bearer":
            self.access_key()
        return self.registration

    def access_key(self, pin: str = PIN) -> requests.Response:
        """Ask for an access key; on success every later request carries it."""
        password = pin_password(pin, self.registration["secretKey"], self.code)
        payload = {
            "enterpriseCode": self.code,
            "deviceId": self.registration["deviceId"],
            "password": password,
        }
        response = self.post(self.settings["bearer"]["access_key_path"], payload)
        answer = response.json() if response.status_code == 200 else {}
        if answer.get("responseCode") == self.settings["success_code"]:
            self.session.headers["Authorization"] = f"Bearer {answer['accessKey']}"
        return response

    def envelope(self, data: Any, **changes: Any) -> dict[str, Any]:
        """deviceId + enterpriseCode + data."""
        return {
            "deviceId": self.registration["deviceId"],
            "enterpriseCode": self.code,
            "data": data,
            **changes,
        }

    def encode_row(self, logical: dict[str, Any], secret_key: str | None = None) -> dict[str, Any]:
        """A row as the profile puts it on the wire (code format, validity, field encryption)."""
        wire = dict(logical)
        if self.settings["code_format"] == "hyphenated" and len(wire["dataCode"]) == 16:
            wire["dataCode"] = hyphenate(wire["dataCode"])
        valid = wire["valid"]
        if isinstance(valid, bool):
            wire["valid"] = {
                "bool": valid,
                "inverted_int": 0 if valid else 1,
                "int": 1 if valid else 0,
            }[self.settings["valid_encoding"]]
        algorithm = self.settings["field_encryption"]
        if algorithm == "none":
            return wire
        key = secret_key or self.registration["secretKey"]
        text = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in wire.items()}
        return {k: ecb_encrypt(algorithm, key, v) for k, v in text.items()}

    def upload(self, *rows: dict[str, Any], secret_key: str | None = None) -> requests.Response:
        """Send logical rows to the data URL."""
        wire = [self.encode_row(r, secret_key) for r in rows]
        return self.post(self.urls["data"], self.envelope(wire))


@pytest.fixture
def start_sim(tmp_path: Path) -> Iterator[Callable[..., Simulator]]:
    """Start a simulator for a profile (with a PKI when the profile needs mTLS); stopped after."""
    started: list[Simulator] = []

    def start(profile: str = "national", **kwargs: Any) -> Simulator:
        if profile == "anhui" and "tls" not in kwargs:
            pki = make_pki(tmp_path / "pki")
            kwargs["tls"] = TlsFiles(pki.server_cert, pki.server_key, pki.ca_cert)
        sim = Simulator(profile=profile, **kwargs)
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def pki(tmp_path: Path) -> PkiFiles:
    """A throwaway CA with server and client certificates."""
    return make_pki(tmp_path / "pki")


@pytest.fixture
def connect(tmp_path: Path) -> Iterator[Callable[..., ProvinceClient]]:
    """A client for a started simulator (closed after the test), with the mTLS files it needs."""
    sessions: list[requests.Session] = []

    def connect(
        sim: Simulator, *, provision: bool = True, client_cert: bool = True
    ) -> ProvinceClient:
        session = requests.Session()
        sessions.append(session)
        if sim.tls is not None:
            pki_dir = Path(sim.tls.cert).parent
            session.verify = str(pki_dir / "ca.pem")
            if client_cert:
                session.cert = (str(pki_dir / "client.pem"), str(pki_dir / "client.key"))
        if provision:
            sim.provision(CODE, REGION, PIN)
        return ProvinceClient(sim, sim.profile.code, session)

    yield connect
    for session in sessions:
        session.close()


@pytest.fixture(params=PROFILES)
def province(
    request: pytest.FixtureRequest,
    start_sim: Callable[..., Simulator],
    connect: Callable[..., ProvinceClient],
) -> ProvinceClient:
    """A registered client of each profile in turn."""
    client = connect(start_sim(request.param))
    client.register()
    return client

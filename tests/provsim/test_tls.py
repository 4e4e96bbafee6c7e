"""HTTPS and mutual TLS (the Anhui profile)."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from ems_provsim.errors import ProvsimError
from ems_provsim.server import Simulator, TlsFiles
from ems_provsim.testing import PkiFiles, make_pki
from tests.provsim.conftest import CODE, REGION, ProvinceClient, row


def test_mtls_without_a_client_certificate_fails(
    start_sim: Callable[..., Simulator], connect: Callable[..., ProvinceClient]
) -> None:
    sim = start_sim("anhui")
    assert sim.base_url.startswith("https://")
    client = connect(sim, client_cert=False)
    with pytest.raises(requests.exceptions.SSLError):
        client.post("/ahnh/api/register", {"enterpriseCode": CODE, "region": REGION})
    assert sim.requests() == []  # the TLS layer refused; the platform never saw a request


def test_mtls_with_a_client_certificate_of_another_ca_fails(
    tmp_path: Path, start_sim: Callable[..., Simulator], connect: Callable[..., ProvinceClient]
) -> None:
    sim = start_sim("anhui")
    stranger = make_pki(tmp_path / "stranger")
    client = connect(sim, client_cert=False)
    client.session.cert = (str(stranger.client_cert), str(stranger.client_key))
    with pytest.raises(requests.exceptions.SSLError):
        client.post("/ahnh/api/register", {"enterpriseCode": CODE, "region": REGION})


def test_mtls_with_a_client_certificate_works(
    start_sim: Callable[..., Simulator], connect: Callable[..., ProvinceClient]
) -> None:
    client = connect(start_sim("anhui"))
    client.register()
    client.ok(client.upload(row()))
    assert client.sim.records()[0]["enterpriseCode"] == CODE
    assert client.urls["data"].startswith("https://")


def test_mtls_profile_needs_tls_files(pki: PkiFiles) -> None:
    with pytest.raises(ProvsimError, match="mutual TLS"):
        Simulator(profile="anhui")
    with pytest.raises(ProvsimError, match="mutual TLS"):
        Simulator(profile="anhui", tls=TlsFiles(pki.server_cert, pki.server_key))


def test_plain_https_for_other_profiles(
    pki: PkiFiles, start_sim: Callable[..., Simulator], connect: Callable[..., ProvinceClient]
) -> None:
    client = connect(start_sim("national", tls=TlsFiles(pki.server_cert, pki.server_key)))
    client.session.verify = str(pki.ca_cert)
    client.register()
    client.ok(client.upload(row()))


def test_the_p12_bundle_holds_the_client_certificate(pki: PkiFiles) -> None:
    key, cert, extra = pkcs12.load_key_and_certificates(
        pki.client_p12.read_bytes(), pki.p12_password.encode()
    )
    assert key is not None and cert is not None
    assert cert.public_bytes(Encoding.PEM) == pki.client_cert.read_bytes()
    assert len(extra) == 1  # the CA
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    context.load_cert_chain(str(pki.client_cert), str(pki.client_key))  # key and cert match

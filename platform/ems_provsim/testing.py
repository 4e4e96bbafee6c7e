"""Helpers for tests that talk to the simulator: a throwaway PKI and valid credit codes.

``make_pki`` builds what an mTLS province hands out: a CA, a server certificate for localhost
(127.0.0.1 and ::1 too) and a client certificate, the client's also as a PKCS#12 bundle.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ems_provsim.uscc import check_character


@dataclass(frozen=True)
class PkiFiles:
    """PEM files (and the client's PKCS#12) written by :func:`make_pki`."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    client_p12: Path
    p12_password: str


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ems-provsim test PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    extensions: list[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    start = datetime.now(UTC) - timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=30))
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def make_pki(
    tmp_dir: str | Path,
    *,
    client_name: str = "91330000573973053F",
    p12_password: str = "provsim",  # noqa: S107 - a throwaway test bundle
) -> PkiFiles:
    """Write a CA, a localhost server certificate and a client certificate under ``tmp_dir``."""
    folder = Path(tmp_dir)
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _certificate(
        "ems-provsim test CA",
        ca_key,
        None,
        ca_key,
        [
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (x509.KeyUsage(False, False, False, False, False, True, True, False, False), True),
            (x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False),
        ],
    )
    authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    server = _certificate(
        "localhost",
        server_key,
        ca,
        ca_key,
        [
            (
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                        x509.IPAddress(ipaddress.ip_address("::1")),
                    ]
                ),
                False,
            ),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            (authority, False),
        ],
    )
    client = _certificate(
        client_name,
        client_key,
        ca,
        ca_key,
        [(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False), (authority, False)],
    )
    p12 = pkcs12.serialize_key_and_certificates(
        client_name.encode(),
        client_key,
        client,
        [ca],
        serialization.BestAvailableEncryption(p12_password.encode()),
    )
    client_p12 = folder / "client.p12"
    client_p12.write_bytes(p12)
    return PkiFiles(
        ca_cert=_write_cert(folder / "ca.pem", ca),
        server_cert=_write_cert(folder / "server.pem", server),
        server_key=_write_key(folder / "server.key", server_key),
        client_cert=_write_cert(folder / "client.pem", client),
        client_key=_write_key(folder / "client.key", client_key),
        client_p12=client_p12,
        p12_password=p12_password,
    )


def make_uscc(serial: int, *, region: str = "330000") -> str:
    """A well-formed credit code (correct check character) for enterprise number ``serial``."""
    first17 = f"91{region}{serial:09d}"
    return first17 + check_character(first17)

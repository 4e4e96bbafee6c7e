"""Settings, read once from the environment (twelve-factor style).

Every setting has a development default that matches the one-machine run; a
production deployment sets them from its secrets store (see ``infra/``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class Settings:
    """Process-wide settings; build with :func:`load_settings`."""

    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/ems"
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "ems:"
    signups_per_minute: int = 10
    secret_key: str = ""
    data_dir: Path = field(default_factory=lambda: Path("var"))
    issuer: str = "http://127.0.0.1:8000"
    audience: str = "ems-api"
    access_token_ttl: int = 3600
    session_ttl: int = 8 * 3600
    # A portal session left alone this long ends (a shared control-room PC).
    session_idle: int = 30 * 60
    secure_cookies: bool = False
    migrations_dir: Path = field(
        default_factory=lambda: Path(__file__).resolve().parents[2] / "migrations"
    )
    # The data path. ``mqtt_url`` is how this data centre's ingest reaches its broker
    # (with the ingest account's credentials); ``mqtt_public`` is the host:port the
    # gateways are told to connect to.
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_public: str = "127.0.0.1:1883"
    dc_name: str = "dc1"
    # Where the broker's password and ACL files are rendered, and the pid to SIGHUP
    # after a change (empty: the files are written, the broker is not signalled).
    broker_dir: Path = field(default_factory=lambda: Path("var/broker"))
    broker_pid_file: str = ""
    # Uploaded documents (personnel files, certificates): "local" keeps them under
    # data_dir/documents (the one-machine run), "s3" in a bucket through boto3. An empty
    # endpoint means AWS's own; empty keys mean boto3's usual chain (environment, role).
    documents_backend: str = "local"
    s3_endpoint: str = ""
    s3_bucket: str = "ems-documents"
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""


def load_settings() -> Settings:
    """Read the settings from ``EMS_*`` environment variables."""
    defaults = Settings()
    token_ttl = int(_env("EMS_ACCESS_TOKEN_TTL", str(defaults.access_token_ttl)))
    # The issue caps integration tokens at one hour whatever the environment says.
    token_ttl = max(60, min(token_ttl, 3600))
    return Settings(
        database_url=_env("EMS_DATABASE_URL", defaults.database_url),
        broker_url=_env("EMS_BROKER_URL", defaults.broker_url),
        redis_url=_env("EMS_REDIS_URL", defaults.redis_url),
        redis_prefix=_env("EMS_REDIS_PREFIX", defaults.redis_prefix),
        signups_per_minute=int(_env("EMS_SIGNUPS_PER_MINUTE", str(defaults.signups_per_minute))),
        secret_key=_env("EMS_SECRET_KEY", ""),
        data_dir=Path(_env("EMS_DATA_DIR", str(defaults.data_dir))),
        issuer=_env("EMS_ISSUER", defaults.issuer),
        audience=_env("EMS_AUDIENCE", defaults.audience),
        access_token_ttl=token_ttl,
        session_ttl=int(_env("EMS_SESSION_TTL", str(defaults.session_ttl))),
        session_idle=int(_env("EMS_SESSION_IDLE", str(defaults.session_idle))),
        secure_cookies=_env("EMS_SECURE_COOKIES", "0") == "1",
        migrations_dir=Path(_env("EMS_MIGRATIONS_DIR", str(defaults.migrations_dir))),
        mqtt_url=_env("EMS_MQTT_URL", defaults.mqtt_url),
        mqtt_public=_env("EMS_MQTT_PUBLIC", defaults.mqtt_public),
        dc_name=_env("EMS_DC_NAME", defaults.dc_name),
        broker_dir=Path(_env("EMS_BROKER_DIR", str(Path(_env("EMS_DATA_DIR", "var")) / "broker"))),
        broker_pid_file=_env("EMS_BROKER_PID_FILE", ""),
        documents_backend=_env("EMS_DOCUMENTS_BACKEND", defaults.documents_backend),
        s3_endpoint=_env("EMS_S3_ENDPOINT", ""),
        s3_bucket=_env("EMS_S3_BUCKET", defaults.s3_bucket),
        s3_region=_env("EMS_S3_REGION", defaults.s3_region),
        s3_access_key=_env("EMS_S3_ACCESS_KEY", ""),
        s3_secret_key=_env("EMS_S3_SECRET_KEY", ""),
    )

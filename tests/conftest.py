"""Test fixtures: a private database with the real migrations, two tenants with
colliding primary keys, and users in every role.

Each test session creates its own database (a unique name) and drops it at the
end, because the PostgreSQL server outlives the run. Redis keys get a unique
prefix for the same reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

RUN_ID = uuid.uuid4().hex[:10]
PG_ADMIN_URL = os.environ.get("EMS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_DB = f"ems_test_{RUN_ID}"
PASSWORD = "correct-horse-battery"
REPO = Path(__file__).resolve().parents[1]


def _admin_execute(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session", autouse=True)
def environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The EMS_* environment of the run, pointing at the private database."""
    _admin_execute(f'CREATE DATABASE "{TEST_DB}"')
    env = {
        "EMS_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{TEST_DB}",
        "EMS_SECRET_KEY": "test-secret-" + RUN_ID,
        "EMS_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "EMS_REDIS_PREFIX": f"ems-test-{RUN_ID}:",
        "EMS_MIGRATIONS_DIR": str(REPO / "migrations"),
        # The signup limit is tested on its own; the many bad-input cases would trip it.
        "EMS_SIGNUPS_PER_MINUTE": "10000",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    from ems.workers.runtime import database

    if database.cache_info().currsize:
        database().dispose()
    _admin_execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{TEST_DB}' AND pid <> pg_backend_pid()"
    )
    _admin_execute(f'DROP DATABASE IF EXISTS "{TEST_DB}"')


@pytest.fixture(scope="session")
def settings(environment: dict[str, str]) -> Any:
    from ems.config import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def database(settings: Any) -> Iterator[Any]:
    """The test database, migrated for real (control schema)."""
    from ems.db import Database
    from ems.migrate import upgrade_control

    db = Database(settings.database_url, pool_size=5)
    upgrade_control(db.engine, settings.migrations_dir)
    yield db
    db.dispose()


@dataclass
class World:
    """Who and what exists for the tests."""

    tenants: dict[str, Any] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # name -> email
    sites: dict[str, list[int]] = field(default_factory=dict)  # tenant key -> site ids


def credit(prefix17: str) -> str:
    """A valid unified social credit code from 17 characters."""
    from ems_tenants.validation import uscc_check_character

    return prefix17 + uscc_check_character(prefix17)


@pytest.fixture(scope="session")
def world(database: Any, settings: Any) -> World:
    """Two tenants (alpha, beta) with colliding site ids, a third (gamma), and users."""
    from ems.db import TENANT_SCHEMA
    from ems.sites.models import Site
    from ems_tenants import members, services

    w = World()
    with database.transaction() as session:
        for key, region, code in (
            ("alpha", "530100", "91530100MA6K1X2Y3"),
            ("beta", "370100", "91370100MA3C4D5E6"),
            ("gamma", "530300", "91530300MA6N7P8Q9"),
        ):
            tenant = services.create_tenant(
                session,
                services.TenantDraft(
                    slug=f"{key}-works",
                    name=f"{key.upper()} 工厂",
                    credit_code=credit(code),
                    region_code=region,
                    industry_code="C3110",
                    plan="enterprise",
                ),
            )
            services.provision(session, database.engine, settings.migrations_dir, tenant)
            w.tenants[key] = tenant
        org = members.create_provider(session, "运维服务商 O&M Provider", None)
        people = {
            "admin": dict(is_platform_admin=True),
            "alice": {},  # tenant admin of alpha
            "bob": {},  # tenant admin of beta
            "mona": {},  # energy manager of alpha
            "oscar": {},  # operator of alpha
            "vera": {},  # viewer of alpha
            "pat": dict(provider_org_id=org.id),  # provider engineer in alpha and gamma
            "reggie": dict(regulator_region="530000"),  # regulator of Yunnan
            "nobody": {},  # no membership at all
        }
        for name, extra in people.items():
            email = f"{name}@example.com"
            members.create_user(session, email=email, name=name, password=PASSWORD, **extra)
            w.users[name] = email
        for slug_key, user, role in (
            ("alpha", "alice", "tenant_admin"),
            ("beta", "bob", "tenant_admin"),
            ("alpha", "mona", "energy_manager"),
            ("alpha", "oscar", "operator"),
            ("alpha", "vera", "viewer"),
            ("alpha", "pat", "provider_engineer"),
            ("gamma", "pat", "provider_engineer"),
        ):
            members.add_member(session, w.tenants[slug_key], w.users[user], role)
    # Site ids collide on purpose: alpha has id 1, beta has ids 1 and 2.
    for key, names in (("alpha", ["ALPHA 一厂"]), ("beta", ["BETA 一厂", "BETA 二厂"])):
        schema = w.tenants[key].schema_name
        with database.transaction(schema) as session:
            sites = [Site(code=f"S{i}", name=n) for i, n in enumerate(names, 1)]
            session.add_all(sites)
            session.flush()
            w.sites[key] = [s.id for s in sites]
    assert TENANT_SCHEMA not in (t.schema_name for t in w.tenants.values())
    assert w.sites["alpha"][0] == w.sites["beta"][0]  # the collision is real
    return w


@pytest.fixture(scope="session")
def app(settings: Any, database: Any, world: World) -> Any:
    from ems.app import create_app

    application = create_app(settings, database)
    application.config["TESTING"] = True
    return application


class ApiClient:
    """A Flask test client that remembers the CSRF token of its session."""

    def __init__(self, flask_client: Any) -> None:
        self.http = flask_client
        self.csrf = ""

    def login(self, email: str, password: str = PASSWORD) -> Any:
        response = self.http.post("/api/v1/auth/login", json={"email": email, "password": password})
        if response.status_code == 200:
            self.csrf = response.get_json()["csrf_token"]
        return response

    def open(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.csrf:
            headers.setdefault("X-CSRF-Token", self.csrf)
        return self.http.open(url, method=method, headers=headers, **kwargs)

    def get(self, url: str, **kw: Any) -> Any:
        return self.open("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.open("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> Any:
        return self.open("PUT", url, **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self.open("DELETE", url, **kw)


@pytest.fixture
def client_for(app: Any, world: World) -> Any:
    """``client_for("alice")``: a logged-in client of that user."""

    def make(name: str | None = None) -> ApiClient:
        c = ApiClient(app.test_client())
        if name is not None:
            response = c.login(world.users[name])
            assert response.status_code == 200, response.get_json()
        return c

    return make


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The answer is the platform's error format with ``status`` (and ``code``)."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.get_json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


@pytest.fixture(scope="session")
def broker(environment: dict[str, str], world: World) -> Iterator[Any]:
    """The platform's Dramatiq broker, pointed at a RabbitMQ vhost of this run's own.

    Session-wide: Dramatiq's broker is global to the process, so every test that sends
    or runs actors (workers, the portal's jobs) shares the one vhost made here.
    """
    assert "ems.workers.broker" not in sys.modules, "broker imported before its URL was set"
    vhost = f"ems_test_{RUN_ID}"
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    os.environ["EMS_BROKER_URL"] = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    try:
        from ems.workers.broker import broker as platform_broker

        yield platform_broker
        platform_broker.close()
    finally:
        os.environ.pop("EMS_BROKER_URL", None)
        _rabbitmqctl("delete_vhost", vhost)


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)

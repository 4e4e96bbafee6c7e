"""The committed OpenAPI document matches the code, and the API survives fuzzing from it.

The fuzz run is bounded (a few examples per operation) and uses its own tenant
and users, so whatever it creates or deletes touches no other test's data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from tests.conftest import PASSWORD, credit

REPO = Path(__file__).resolve().parents[1]
FUZZ_EXAMPLES = 30


def test_committed_document_is_up_to_date() -> None:
    from ems.cli import openapi_document

    committed = (REPO / "openapi" / "openapi.json").read_text(encoding="utf-8")
    assert committed == openapi_document(), "openapi/openapi.json is stale: run `ems openapi write`"


@pytest.fixture(scope="module")
def fuzz_identity(app: Any, database: Any, settings: Any) -> dict[str, str]:
    """A tenant and an administrator used only by the fuzzer."""
    from ems_tenants import members, services

    with database.transaction() as s:
        tenant = services.create_tenant(
            s,
            services.TenantDraft(
                slug="fuzz-works",
                name="FUZZ",
                credit_code=credit("91530100MA6K1X2Y5"),
                region_code="530100",
                industry_code="C3110",
                plan="enterprise",
            ),
        )
        services.provision(s, database.engine, settings.migrations_dir, tenant)
        members.create_user(s, email="fuzzer@example.com", name="fuzzer", password=PASSWORD)
        members.add_member(s, tenant, "fuzzer@example.com", "tenant_admin")
    client = app.test_client()
    login = client.post(
        "/api/v1/auth/login", json={"email": "fuzzer@example.com", "password": PASSWORD}
    )
    cookie = client.get_cookie("ems_session")
    assert cookie is not None
    return {"Cookie": f"ems_session={cookie.value}", "X-CSRF-Token": login.get_json()["csrf_token"]}


@pytest.fixture(scope="module")
def api_schema(app: Any) -> Any:
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.mark.fuzz
def test_no_server_errors(api_schema: Any, fuzz_identity: dict[str, str]) -> None:
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/v1/auth/logout":
            continue  # would end the fuzzer's own session for the remaining cases
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            phases=[Phase.explicit, Phase.generate],
        )
        def run(case: Any) -> None:
            if "slug" in (case.path_parameters or {}) and case.path.startswith("/api/v1/tenants/"):
                # Mostly aim at the fuzzer's own tenant, to get past the membership check.
                case.path_parameters["slug"] = "fuzz-works"
            response = case.call(headers=dict(fuzz_identity))
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}")

        run()
    assert operations >= 25
    assert not failures, failures

"""The ``ems`` command: tenants and users from the shell, with clear errors."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from tests.conftest import credit


def run(*args: str, input: str | None = None) -> Any:
    from ems.cli import main

    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_tenant_life_cycle_from_the_shell(world: Any, settings: Any) -> None:
    created = run(
        "tenants",
        "create",
        "--slug",
        "theta-chem",
        "--name",
        "THETA 化工",
        "--credit-code",
        credit("91530100MA6K1X2Y4"),
        "--region-code",
        "530100",
        "--industry-code",
        "C2611",
    )
    assert created.exit_code == 0, created.output
    assert '"status": "active"' in created.output
    listing = run("tenants", "list")
    assert "theta-chem" in listing.output and "alpha-works" in listing.output
    assert '"slug": "theta-chem"' in run("tenants", "show", "theta-chem").output
    assert run("tenants", "suspend", "theta-chem").output.strip() == "theta-chem: suspended"
    refused = CliRunner().invoke(
        __import__("ems.cli", fromlist=["main"]).main,
        ["tenants", "delete", "theta-chem", "--confirm", "theta-chem"],
    )
    assert refused.exit_code != 0 and "export" in refused.output
    exported = run("tenants", "export", "theta-chem")
    assert exported.exit_code == 0, exported.output
    archive = Path(exported.output.split()[0])
    with tarfile.open(archive) as tar:
        assert "manifest.json" in tar.getnames()
    assert run("tenants", "delete", "theta-chem", "--confirm", "theta-chem").exit_code == 0
    assert "deleted" in run("tenants", "show", "theta-chem").output


def test_bad_input_from_the_shell_names_the_field(world: Any) -> None:
    from ems.cli import main

    result = CliRunner().invoke(
        main,
        [
            "tenants",
            "create",
            "--slug",
            "iota-x",
            "--name",
            "x",
            "--credit-code",
            "123",
            "--region-code",
            "530100",
            "--industry-code",
            "C",
        ],
    )
    assert result.exit_code == 1
    assert "credit_code" in result.output and "Traceback" not in result.output
    missing = CliRunner().invoke(main, ["tenants", "show", "no-such"])
    assert missing.exit_code == 1 and "tenant not found" in missing.output


def test_user_creation_and_membership(world: Any) -> None:
    made = run(
        "users",
        "create",
        "--email",
        "cli-user@example.com",
        "--name",
        "cli",
        input="long-enough-pw\nlong-enough-pw\n",
    )
    assert made.exit_code == 0, made.output
    added = run("users", "add-member", "alpha-works", "cli-user@example.com", "viewer")
    assert added.exit_code == 0, added.output


def test_key_rotation_keeps_old_tokens_valid(app: Any) -> None:
    keys_before = app.test_client().get("/api/v1/oauth/jwks.json").get_json()["keys"]
    result = run("keys", "rotate")
    assert result.exit_code == 0, result.output
    app.extensions["ems"].keys.invalidate()
    keys_after = app.test_client().get("/api/v1/oauth/jwks.json").get_json()["keys"]
    assert {k["kid"] for k in keys_before} < {k["kid"] for k in keys_after}

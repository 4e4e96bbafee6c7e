"""``ems gateways register`` from the shell: a working registration and refused input."""

from __future__ import annotations

import uuid
from typing import Any

import yaml
from click.testing import CliRunner


def test_register_prints_an_agent_config(world: Any) -> None:
    from ems.cli import main

    name = "cli" + uuid.uuid4().hex[:8]
    result = CliRunner().invoke(main, ["gateways", "register", "alpha-works", name])
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(result.output)
    assert config["gateway"]["id"] == f"alpha-works-{name}"
    assert config["data_centres"][0]["username"] == f"alpha-works-{name}"


def test_register_refuses_an_unknown_tenant_and_a_bad_name(world: Any) -> None:
    from ems.cli import main

    unknown = CliRunner().invoke(main, ["gateways", "register", "no-such-works", "gw1"])
    assert unknown.exit_code != 0
    assert "no tenant 'no-such-works'" in unknown.output
    bad = CliRunner().invoke(main, ["gateways", "register", "alpha-works", "Bad-Name"])
    assert bad.exit_code != 0
    assert "bad gateway name" in bad.output and "name:" in bad.output
    bad_key = CliRunner().invoke(
        main,
        ["gateways", "register", "alpha-works", "k" + uuid.uuid4().hex[:8], "--public-key", "xx"],
    )
    assert bad_key.exit_code != 0 and "public_key" in bad_key.output

"""``ems db upgrade`` walks the control schema and every tenant schema."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner
from sqlalchemy import text


def head_of(env: str, settings: Any) -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(settings.migrations_dir / env))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def test_db_upgrade_reaches_every_tenant(database: Any, settings: Any, world: Any) -> None:
    from alembic import command

    from ems.cli import main
    from ems.migrate import _config, tenant_revision

    # Put one tenant behind (a real downgrade of the newest tenant migration), as a
    # release with a new tenant migration would find it.
    schema = world.tenants["gamma"].schema_name
    with database.engine.begin() as conn:
        cfg = _config(settings.migrations_dir, "tenant", conn)
        cfg.attributes["tenant_schema"] = schema
        command.downgrade(cfg, "-1")
    assert tenant_revision(database.engine, schema) != head_of("tenant", settings)
    result = CliRunner().invoke(main, ["db", "upgrade"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "control schema: up to date" in result.output
    assert "0 failed" in result.output
    for tenant in world.tenants.values():
        assert tenant_revision(database.engine, tenant.schema_name) == head_of("tenant", settings)
    with database.engine.connect() as conn:
        control = conn.execute(text("SELECT version_num FROM control.alembic_version")).scalar()
    assert control == head_of("control", settings)


def test_a_failing_tenant_does_not_stop_the_others(
    database: Any, settings: Any, world: Any
) -> None:
    from ems.migrate import upgrade_tenants

    good = world.tenants["alpha"].schema_name
    results = upgrade_tenants(database.engine, settings.migrations_dir, ['bad"schema', good])
    assert results[0].error is not None and results[1].error is None


def test_tenant_tables_land_in_the_tenant_schema(database: Any, world: Any) -> None:
    with database.engine.connect() as conn:
        placeholder = conn.execute(text("SELECT to_regnamespace('tenant')")).scalar()
        sites = conn.execute(
            text(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_name = 'sites' AND table_schema LIKE 't\\_%'"
            )
        ).scalar()
    assert placeholder is None, "the placeholder schema must never be created"
    assert sites is not None and sites >= 3

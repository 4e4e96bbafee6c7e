"""Alembic environment for one tenant schema.

The caller (``ems.migrate``) passes the connection and the tenant's schema name
from the registry; scripts address the placeholder schema ``tenant``, which the
connection's ``schema_translate_map`` turns into the real one.
"""

from alembic import context
from sqlalchemy import text

from ems.db import TENANT_SCHEMA, TenantBase
from ems.models import load_all_models

load_all_models()
config = context.config
schema = config.attributes["tenant_schema"]
connection = config.attributes["connection"].execution_options(
    schema_translate_map={TENANT_SCHEMA: schema}
)

connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
context.configure(
    connection=connection,
    target_metadata=TenantBase.metadata,
    version_table_schema=schema,
    include_schemas=True,
    include_name=lambda name, type_, parent: type_ != "schema" or name in (schema, TENANT_SCHEMA),
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

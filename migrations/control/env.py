"""Alembic environment for the shared control schema."""

from alembic import context
from sqlalchemy import text

from ems.db import CONTROL_SCHEMA, ControlBase
from ems.models import load_all_models

load_all_models()
config = context.config
connection = config.attributes["connection"]

connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{CONTROL_SCHEMA}"'))
context.configure(
    connection=connection,
    target_metadata=ControlBase.metadata,
    version_table_schema=CONTROL_SCHEMA,
    include_schemas=True,
    include_name=lambda name, type_, parent: type_ != "schema" or name == CONTROL_SCHEMA,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

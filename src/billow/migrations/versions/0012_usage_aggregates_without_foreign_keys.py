"""usage aggregates and value states without a foreign key to organizations

The rows are derived from events and written by every ingest; checking the reference on each new
row cost as much as writing the row.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = '0012'
down_revision = '0010'
branch_labels = None
depends_on = None

_TABLES = ('usage_aggregates', 'usage_value_states')


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f'fk_{table}_organization_id_organizations', type_='foreignkey')


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(f'fk_{table}_organization_id_organizations', 'organizations',
                                        ['organization_id'], ['id'], ondelete='CASCADE')

"""one table of event watermarks for the periodic services that follow new events, and the
(organization, id, created_at) index of events their reads and skips walk

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import billow.core.types

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# The tables this one replaces, by the service name their rows take.
_OLD = {'event_errors': 'event_error_watermarks', 'draft_refresh': 'draft_refresh_watermarks',
        'pay_in_advance_fees': 'pay_in_advance_watermarks'}


def upgrade() -> None:
    op.create_table('event_watermarks',
    sa.Column('service', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('last_event_id', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', billow.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_event_watermarks_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('service', 'organization_id', name=op.f('pk_event_watermarks'))
    )
    for service, table in _OLD.items():
        op.execute(sa.text(f"INSERT INTO event_watermarks (service, organization_id, last_event_id, updated_at) "
                           f"SELECT :service, organization_id, last_event_id, updated_at FROM {table}")
                   .bindparams(service=service))
        op.drop_table(table)
    # An index, not a table change: no batch copy of events on SQLite.
    op.create_index(op.f('ix_events_organization_id_id_created_at'), 'events',
                    ['organization_id', 'id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_events_organization_id_id_created_at'), table_name='events')
    for service, table in _OLD.items():
        op.create_table(table,
        sa.Column('organization_id', sa.Uuid(), nullable=False),
        sa.Column('last_event_id', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', billow.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f(f'fk_{table}_organization_id_organizations'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('organization_id', name=op.f(f'pk_{table}'))
        )
        op.execute(sa.text(f"INSERT INTO {table} (organization_id, last_event_id, updated_at) "
                           f"SELECT organization_id, last_event_id, updated_at FROM event_watermarks "
                           f"WHERE service = :service").bindparams(service=service))
    op.drop_table('event_watermarks')

"""usage aggregates by grain (hour, day, month), keyed for range reads; organizations' catalog revision

The aggregates are derived data: the tables are recreated empty with the new key and every
metric's usage profile is forgotten, so the aggregates are rebuilt from the raw events (the
source of truth) the next time the metric is ingested or read.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import billow.core.types

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_KEY = ('organization_id', 'external_subscription_id', 'code')


def _key_columns(grain: bool) -> list[sa.Column]:
    columns = [
        sa.Column('organization_id', sa.Uuid(), nullable=False),
        sa.Column('external_subscription_id', sa.String(length=255), nullable=False),
        sa.Column('code', sa.String(length=255), nullable=False),
    ]
    if grain:
        columns.append(sa.Column('grain', sa.SmallInteger(), nullable=False))
    return columns


def _aggregate_columns() -> list[sa.Column]:
    return [
        sa.Column('events', sa.BigInteger(), nullable=False),
        sa.Column('counted', sa.BigInteger(), nullable=False),
        sa.Column('total', billow.core.types.DecimalText(length=64), nullable=False),
        sa.Column('maximum', billow.core.types.DecimalText(length=64), nullable=True),
        sa.Column('latest_at', billow.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('latest_seq', sa.BigInteger(), nullable=True),
        sa.Column('latest_value', billow.core.types.DecimalText(length=64), nullable=True),
        sa.Column('tail', billow.core.types.DecimalText(length=64), nullable=False),
    ]


def _state_columns() -> list[sa.Column]:
    return [
        sa.Column('last_at', billow.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_seq', sa.BigInteger(), nullable=False),
        sa.Column('added', sa.Boolean(), nullable=False),
    ]


def _bucket_dims() -> list[sa.Column]:
    return [sa.Column('bucket', billow.core.types.UTCDateTime(timezone=True), nullable=False),
            sa.Column('dims', sa.String(length=1024), nullable=False)]


def _create(grain: bool) -> None:
    order = [*_KEY, 'grain', 'bucket', 'dims'] if grain else [*_KEY, 'dims', 'bucket']
    op.create_table(
        'usage_aggregates', *_key_columns(grain), *_bucket_dims(), *_aggregate_columns(),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                                name=op.f('fk_usage_aggregates_organization_id_organizations'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint(*order, name=op.f('pk_usage_aggregates')),
    )
    state_order = [*order, 'value'] if grain else [*_KEY, 'dims', 'value', 'bucket']
    op.create_table(
        'usage_value_states', *_key_columns(grain), *_bucket_dims(),
        sa.Column('value', sa.String(length=1024), nullable=False), *_state_columns(),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                                name=op.f('fk_usage_value_states_organization_id_organizations'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint(*state_order, name=op.f('pk_usage_value_states')),
    )


def _recreate(grain: bool) -> None:
    op.drop_table('usage_value_states')
    op.drop_table('usage_aggregates')
    _create(grain)
    op.execute('DELETE FROM usage_profiles')  # rebuilt from the raw events on next use


def upgrade() -> None:
    _recreate(grain=True)
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('catalog_revision', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('catalog_revision')
    _recreate(grain=False)

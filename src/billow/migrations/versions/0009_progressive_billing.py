"""progressive billing: applied usage thresholds, lifetime usages, progressive credits

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import billow.core.types

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_CROSSING = 'uq_applied_usage_thresholds_subscription_id_recurring_crossing_amount_cents'


def upgrade() -> None:
    op.create_table('applied_usage_thresholds',
    sa.Column('invoice_id', sa.Uuid(), nullable=False),
    sa.Column('subscription_id', sa.Uuid(), nullable=False),
    sa.Column('usage_threshold_id', sa.Uuid(), nullable=True),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('threshold_display_name', sa.String(length=255), nullable=True),
    sa.Column('recurring', sa.Boolean(), nullable=False),
    sa.Column('crossing_amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('lifetime_usage_amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', billow.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', billow.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_applied_usage_thresholds_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_applied_usage_thresholds_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_applied_usage_thresholds_subscription_id_subscriptions')),
    sa.ForeignKeyConstraint(['usage_threshold_id'], ['usage_thresholds.id'], name=op.f('fk_applied_usage_thresholds_usage_threshold_id_usage_thresholds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_applied_usage_thresholds')),
    sa.UniqueConstraint('subscription_id', 'recurring', 'crossing_amount_cents', name=op.f(_CROSSING))
    )
    with op.batch_alter_table('applied_usage_thresholds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_applied_usage_thresholds_invoice_id'), ['invoice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_applied_usage_thresholds_organization_id'), ['organization_id'],
                              unique=False)
    op.create_table('lifetime_usages',
    sa.Column('subscription_id', sa.Uuid(), nullable=False),
    sa.Column('historical_usage_amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', billow.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', billow.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_lifetime_usages_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_lifetime_usages_subscription_id_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lifetime_usages')),
    sa.UniqueConstraint('subscription_id', name=op.f('uq_lifetime_usages_subscription_id'))
    )
    with op.batch_alter_table('lifetime_usages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lifetime_usages_organization_id'), ['organization_id'], unique=False)
    with op.batch_alter_table('credits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('progressive_billing_invoice_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('ix_credits_progressive_billing_invoice_id'),
                              ['progressive_billing_invoice_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_credits_progressive_billing_invoice_id_invoices'), 'invoices',
                                    ['progressive_billing_invoice_id'], ['id'])
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.alter_column('invoice_type', existing_type=sa.String(length=16), type_=sa.String(length=32),
                              existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.alter_column('invoice_type', existing_type=sa.String(length=32), type_=sa.String(length=16),
                              existing_nullable=False)
    with op.batch_alter_table('credits', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_credits_progressive_billing_invoice_id_invoices'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_credits_progressive_billing_invoice_id'))
        batch_op.drop_column('progressive_billing_invoice_id')
    with op.batch_alter_table('lifetime_usages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lifetime_usages_organization_id'))
    op.drop_table('lifetime_usages')
    with op.batch_alter_table('applied_usage_thresholds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_applied_usage_thresholds_organization_id'))
        batch_op.drop_index(batch_op.f('ix_applied_usage_thresholds_invoice_id'))
    op.drop_table('applied_usage_thresholds')

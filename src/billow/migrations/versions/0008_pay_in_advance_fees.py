"""pay-in-advance charge fees: one fee per charge and event, optionally without an invoice

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import billow.core.types

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_PERIOD_KEY = ['subscription_id', 'invoicing_reason', 'charges_from_datetime', 'charges_to_datetime']
_OLD_UNIQUE = 'uq_invoice_subscriptions_subscription_id_invoicing_reason_charges_from_datetime_charges_to_datetime'
_NEW_UNIQUE = _OLD_UNIQUE + '_pay_in_advance_event_id'


def upgrade() -> None:
    op.create_table('pay_in_advance_watermarks',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('last_event_id', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', billow.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_pay_in_advance_watermarks_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', name=op.f('pk_pay_in_advance_watermarks'))
    )
    with op.batch_alter_table('fees', schema=None) as batch_op:
        batch_op.alter_column('invoice_id', existing_type=sa.Uuid(), nullable=True)
        batch_op.add_column(sa.Column('pay_in_advance_event_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('event_transaction_id', sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_fees_charge_id_pay_in_advance_event_id'),
                                          ['charge_id', 'pay_in_advance_event_id'])
    with op.batch_alter_table('invoice_subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pay_in_advance_event_id', sa.BigInteger(), server_default='0',
                                      nullable=False))
        batch_op.drop_constraint(batch_op.f(_OLD_UNIQUE), type_='unique')
        batch_op.create_unique_constraint(batch_op.f(_NEW_UNIQUE), [*_PERIOD_KEY, 'pay_in_advance_event_id'])


def downgrade() -> None:
    with op.batch_alter_table('invoice_subscriptions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(_NEW_UNIQUE), type_='unique')
        batch_op.create_unique_constraint(batch_op.f(_OLD_UNIQUE), _PERIOD_KEY)
        batch_op.drop_column('pay_in_advance_event_id')
    with op.batch_alter_table('fees', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_fees_charge_id_pay_in_advance_event_id'), type_='unique')
        batch_op.drop_column('event_transaction_id')
        batch_op.drop_column('pay_in_advance_event_id')
        batch_op.alter_column('invoice_id', existing_type=sa.Uuid(), nullable=False)
    op.drop_table('pay_in_advance_watermarks')

"""the payment status of a fee that no invoice carries (pay-in-advance charges that are not
invoiceable): pending, succeeded, failed or refunded, with when it last changed to each; and when
such a fee was deleted (kept, so its event is never billed again)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import billow.core.types

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

_INSTANTS = ('succeeded_at', 'failed_at', 'refunded_at', 'deleted_at')


def upgrade() -> None:
    with op.batch_alter_table('fees', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_status', sa.String(length=16), nullable=False,
                                      server_default='pending'))
        for name in _INSTANTS:
            batch_op.add_column(sa.Column(name, billow.core.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('fees', schema=None) as batch_op:
        for name in reversed(_INSTANTS):
            batch_op.drop_column(name)
        batch_op.drop_column('payment_status')

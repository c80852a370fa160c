"""one-off invoice lines (fee description) and the watermark of the draft refresh service

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import billow.core.types

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('fees', schema=None) as batch_op:
        batch_op.add_column(sa.Column('description', sa.Text(), nullable=True))

    op.create_table('draft_refresh_watermarks',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('last_event_id', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', billow.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_draft_refresh_watermarks_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', name=op.f('pk_draft_refresh_watermarks'))
    )


def downgrade() -> None:
    op.drop_table('draft_refresh_watermarks')
    with op.batch_alter_table('fees', schema=None) as batch_op:
        batch_op.drop_column('description')

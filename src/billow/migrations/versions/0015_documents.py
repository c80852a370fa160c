"""documents: the PDFs of invoices and credit notes, and their public ``file_url``

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import billow.core.types

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('documents',
    sa.Column('invoice_id', sa.Uuid(), nullable=True),
    sa.Column('credit_note_id', sa.Uuid(), nullable=True),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', billow.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', billow.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['credit_note_id'], ['credit_notes.id'], name=op.f('fk_documents_credit_note_id_credit_notes')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_documents_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_documents_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_documents')),
    sa.UniqueConstraint('credit_note_id', name=op.f('uq_documents_credit_note_id')),
    sa.UniqueConstraint('invoice_id', name=op.f('uq_documents_invoice_id')),
    sa.UniqueConstraint('token', name=op.f('uq_documents_token'))
    )
    op.create_index(op.f('ix_documents_organization_id'), 'documents', ['organization_id'], unique=False)
    # Nullable columns: SQLite adds them in place (no table copy).
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('file_url', sa.String(length=1024), nullable=True))
    with op.batch_alter_table('credit_notes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('file_url', sa.String(length=1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('credit_notes', schema=None) as batch_op:
        batch_op.drop_column('file_url')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_column('file_url')
    op.drop_index(op.f('ix_documents_organization_id'), table_name='documents')
    op.drop_table('documents')

"""plan overrides: per-subscription plan copies, subscription usage thresholds

* plans: the live-code index leaves out the copies (``parent_id`` set), which share their
  parent's code;
* charges: ``parent_id``, the parent plan's charge an override copy stands for;
* subscriptions: ``progressive_billing_disabled``;
* usage_thresholds: ``subscription_id`` for thresholds given on the subscription itself
  (``plan_id`` becomes nullable: a threshold belongs to one of the two).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_CODE_INDEX = 'uq_plans_organization_id_code_live'


def _code_index(batch_op: object, where: str) -> None:
    batch_op.create_index(_CODE_INDEX, ['organization_id', 'code'], unique=True,  # type: ignore[attr-defined]
                          sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def upgrade() -> None:
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.drop_index(_CODE_INDEX)
        _code_index(batch_op, 'deleted_at IS NULL AND parent_id IS NULL')
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_charges_parent_id_charges'), 'charges', ['parent_id'], ['id'])
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('progressive_billing_disabled', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    with op.batch_alter_table('usage_thresholds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subscription_id', sa.Uuid(), nullable=True))
        batch_op.alter_column('plan_id', existing_type=sa.Uuid(), nullable=True)
        batch_op.create_index(batch_op.f('ix_usage_thresholds_subscription_id'), ['subscription_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_usage_thresholds_subscription_id_subscriptions'), 'subscriptions',
                                    ['subscription_id'], ['id'], ondelete='CASCADE')


def downgrade() -> None:
    op.execute('DELETE FROM usage_thresholds WHERE plan_id IS NULL')
    with op.batch_alter_table('usage_thresholds', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_usage_thresholds_subscription_id_subscriptions'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_usage_thresholds_subscription_id'))
        batch_op.alter_column('plan_id', existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_column('subscription_id')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('progressive_billing_disabled')
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_charges_parent_id_charges'), type_='foreignkey')
        batch_op.drop_column('parent_id')
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.drop_index(_CODE_INDEX)
        _code_index(batch_op, 'deleted_at IS NULL')

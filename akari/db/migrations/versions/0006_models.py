"""Several models: each generation keeps every input it was made with; users get a daily neuron quota.

- generations: guidance, negative prompt and the reference image (its key and store), beside the model, steps, seed
  and size already kept.
- users: a daily neuron quota (None: the admin's default).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_GENERATION_COLUMNS = (
    ("guidance", sa.Float()),
    ("negative_prompt", sa.Text()),
    ("reference_key", sa.String(512)),
    ("reference_store", sa.String(32)),
)


def upgrade() -> None:
    # Plain ADD COLUMN (no table rebuild): the search and usage triggers on generations stay as they are.
    for name, type_ in _GENERATION_COLUMNS:
        op.add_column("generations", sa.Column(name, type_, nullable=True))
    op.add_column("users", sa.Column("daily_neuron_quota", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "daily_neuron_quota")
    for name, _type in reversed(_GENERATION_COLUMNS):
        op.drop_column("generations", name)

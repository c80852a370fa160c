from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from billow.core import clock

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    """Usage stories run on 2024-03-10 12:00 UTC."""
    with clock.frozen(NOW):
        yield

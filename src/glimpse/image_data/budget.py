"""An upload's two blocks, paid for from the process's transfer budget (``memory.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from glimpse.image_data.blocks import BlockPair
from glimpse.memory import BUDGET


@contextlib.asynccontextmanager
async def budgeted_blocks(preferred: int) -> AsyncIterator[BlockPair]:
    """Two blocks of at most ``preferred`` bytes each, smaller when many transfers run."""
    async with BUDGET.transfer(preferred) as size:
        pair = BlockPair(size)
        try:
            yield pair
        finally:
            pair.close()

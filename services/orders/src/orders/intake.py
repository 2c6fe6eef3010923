"""Order intake with group commit: one writer per campaign, many orders per transaction.

Every order on a campaign takes the next buyer number from the campaign's row, so one
transaction per order is capped by how fast PostgreSQL can commit updates of that one hot
row. Instead, orders (``PlaceOrder`` commands) for a campaign queue here and a single writer
task takes whatever has queued (up to `max_batch`) and places it in one transaction
(`handlers.place_orders`); while that commits, the next batch gathers. Under light load a
batch is one order (no added delay); under a rush batches grow on their own. Each command
awaits its own future.

Should a batch fail as a whole, its orders are retried one by one, so one bad order fails
only itself. With several instances, the row lock taken first in each batch serializes
their batches (see docs/adr/0001-order-intake-group-commit.md).
"""

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from dropwave_runtime.db import Database
from sqlalchemy.exc import IntegrityError

from .commands import PlaceOrder
from .handlers import Outcome, Placed, place_orders

log = logging.getLogger(__name__)

Waiter = tuple[PlaceOrder, "asyncio.Future[Placed]"]


@dataclass
class _Lane:
    """One campaign's queue; its writer task exists while the queue is not empty."""

    waiting: list[Waiter] = field(default_factory=list)
    writer: "asyncio.Task[None] | None" = None


class OrderIntake:
    def __init__(self, db: Database, max_batch: int = 500) -> None:
        self.db = db
        self.max_batch = max_batch
        self._lanes: dict[uuid.UUID, _Lane] = {}
        self.slugs: dict[str, uuid.UUID] = {}  # slug -> campaign id, filled by the API
        self.batches = 0  # flushed transactions, for tests and the benchmark

    async def place(self, campaign_id: uuid.UUID, command: PlaceOrder) -> Placed:
        """Queue the order and await its batch's commit; raises a ``DomainError`` if refused."""
        future: asyncio.Future[Placed] = asyncio.get_running_loop().create_future()
        lane = self._lanes.get(campaign_id)
        if lane is None:
            lane = self._lanes[campaign_id] = _Lane()
            lane.writer = asyncio.create_task(self._write(campaign_id, lane))
        lane.waiting.append((command, future))
        return await future

    async def _write(self, campaign_id: uuid.UUID, lane: _Lane) -> None:
        try:
            while lane.waiting:
                batch = lane.waiting[: self.max_batch]
                del lane.waiting[: self.max_batch]
                # A request whose client went away places nothing (a retry with its key will).
                batch = [(c, f) for c, f in batch if not f.done()]
                if batch:
                    await self._flush(campaign_id, batch)
        finally:
            # No await between the emptiness check above and here: nothing can slip in.
            if self._lanes.get(campaign_id) is lane:
                del self._lanes[campaign_id]
            for _, future in lane.waiting:  # only after an unexpected error
                if not future.done():
                    future.set_exception(RuntimeError("order intake stopped"))

    async def _flush(self, campaign_id: uuid.UUID, batch: Sequence[Waiter]) -> None:
        try:
            outcomes = await self._transaction(campaign_id, [c for c, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            log.warning(
                "order batch failed; placing its orders one by one",
                extra={"campaign_id": str(campaign_id), "size": len(batch)},
                exc_info=True,
            )
            for command, future in batch:
                await self._one_by_one(campaign_id, command, future)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            _settle(future, outcome)

    async def _one_by_one(
        self, campaign_id: uuid.UUID, command: PlaceOrder, future: "asyncio.Future[Placed]"
    ) -> None:
        for attempt in range(2):  # a duplicate-key race resolves as a replay on the retry
            try:
                (outcome,) = await self._transaction(campaign_id, [command])
            except IntegrityError as exc:
                if attempt == 1:
                    _settle(future, exc)
                continue
            except Exception as exc:
                _settle(future, exc)
                return
            _settle(future, outcome)
            return

    async def _transaction(
        self, campaign_id: uuid.UUID, commands: Sequence[PlaceOrder]
    ) -> list[Outcome]:
        async with self.db.unit_of_work() as uow:
            outcomes = await place_orders(commands, uow, campaign_id=campaign_id)
        self.batches += 1
        return outcomes


def _settle(future: "asyncio.Future[Placed]", outcome: Outcome | BaseException) -> None:
    if future.done():
        return
    if isinstance(outcome, Placed):
        future.set_result(outcome)
    else:
        future.set_exception(outcome)

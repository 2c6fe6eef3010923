"""The periodic-job helper: rounds on schedule, a failing round logged and survived, cancel
stops the job."""

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable

import pytest
from dropwave_runtime import periodic
from dropwave_runtime.periodic import every

pytestmark = pytest.mark.timeout(10)


async def test_the_first_round_runs_at_start() -> None:
    ran = asyncio.Event()
    job = asyncio.create_task(every(60, _setter(ran), name="probe"))
    await asyncio.wait_for(ran.wait(), 5)  # not a minute
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job


async def test_rounds_come_every_interval() -> None:
    rounds: list[float] = []
    loop = asyncio.get_running_loop()
    three = asyncio.Event()

    async def round() -> None:
        rounds.append(loop.time())
        if len(rounds) == 3:
            three.set()

    job = asyncio.create_task(every(0.02, round, name="probe"))
    await asyncio.wait_for(three.wait(), 5)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert all(b - a >= 0.015 for a, b in itertools.pairwise(rounds))


async def test_first_round_after_one_interval_when_asked() -> None:
    ran = asyncio.Event()
    loop = asyncio.get_running_loop()
    start = loop.time()
    job = asyncio.create_task(every(0.05, _setter(ran), name="probe", first_at_start=False))
    await asyncio.wait_for(ran.wait(), 5)
    assert loop.time() - start >= 0.045
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job


async def test_a_failing_round_is_logged_with_the_name_and_the_job_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0
    recovered = asyncio.Event()

    async def round() -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise RuntimeError("database away")
        recovered.set()

    with caplog.at_level(logging.WARNING, logger="probe.jobs"):
        job = asyncio.create_task(
            every(
                0.01,
                round,
                name="probe round",
                logger=logging.getLogger("probe.jobs"),
                level=logging.WARNING,
            )
        )
        await asyncio.wait_for(recovered.wait(), 5)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
    failures = [r for r in caplog.records if r.name == "probe.jobs"]
    assert [r.getMessage() for r in failures] == ["probe round failed"] * 2
    assert all(r.levelno == logging.WARNING for r in failures)
    assert all(getattr(r, "job", None) == "probe round" for r in failures)
    exc_info = failures[0].exc_info
    assert exc_info is not None
    assert isinstance(exc_info[1], RuntimeError)


async def test_cancel_during_a_round_stops_the_job() -> None:
    started = asyncio.Event()

    async def round() -> None:
        started.set()
        await asyncio.sleep(60)

    job = asyncio.create_task(every(0.01, round, name="probe"))
    await asyncio.wait_for(started.wait(), 5)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert job.cancelled()


async def test_the_interval_may_be_read_before_each_sleep() -> None:
    intervals = iter([0.01, 0.02, 0.03])
    asked: list[float] = []
    done = asyncio.Event()

    def interval() -> float:
        asked.append(value := next(intervals, 0.01))
        if len(asked) == 3:
            done.set()
        return value

    job = asyncio.create_task(every(interval, _noop, name="probe"))
    await asyncio.wait_for(done.wait(), 5)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert asked == [0.01, 0.02, 0.03]


def test_jitter_stays_within_its_band() -> None:
    delays = [periodic._delay(1.0, 0.1) for _ in range(1000)]
    assert all(0.9 <= d <= 1.1 for d in delays)
    assert len(set(delays)) > 1
    assert periodic._delay(lambda: 2.0, 0.0) == 2.0


def _setter(event: asyncio.Event) -> Callable[[], Awaitable[None]]:
    async def round() -> None:
        event.set()

    return round


async def _noop() -> None:
    return None

"""`serve` tunes the garbage collector (see cli.tune_gc)."""

import gc
from collections.abc import Iterator

import pytest
from dropwave_runtime.cli import tune_gc
from dropwave_runtime.settings import ServiceSettings


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restore_gc")
def test_young_collections_are_rarer_and_the_start_up_heap_is_frozen() -> None:
    kept = [object() for _ in range(10)]
    gen1, gen2 = gc.get_threshold()[1:]
    tune_gc(ServiceSettings(database_url="x", kafka_bootstrap_servers="y").gc_gen0_threshold)
    assert gc.get_threshold() == (50_000, gen1, gen2)
    assert gc.get_freeze_count() > len(kept)

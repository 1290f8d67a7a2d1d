"""Housekeeping of a served process: frozen imports make full collections cheap; memory goes back."""

from __future__ import annotations

import gc
import sys
import threading
import time
import types

from alibi_lsh.app import server


def test_freeze_imports_freezes_once_per_new_import():
    server.freeze_imports()  # whatever this test process imported so far
    assert server.freeze_imports() is False  # nothing new: no work, nothing frozen again
    frozen = gc.get_freeze_count()
    name = "alibi_lsh_test_module_imported_late"
    sys.modules[name] = types.ModuleType(name)  # as an import of a page's module would add one
    try:
        assert server.freeze_imports() is True and gc.get_freeze_count() >= frozen
    finally:
        del sys.modules[name]


def test_a_full_collection_after_freezing_skips_the_frozen_objects():
    server.freeze_imports()
    cycle = []
    cycle.append(cycle)  # cyclic garbage created after the freeze is still collected
    del cycle
    assert gc.collect() >= 1
    # What a collection walks (gc.get_objects) leaves out the frozen heap, most of the process's objects.
    assert gc.get_freeze_count() > len(gc.get_objects()), (gc.get_freeze_count(), len(gc.get_objects()))


def test_janitor_starts_once_and_gives_memory_back():
    stop = server.start_janitor(period=0.05)
    try:
        assert server.start_janitor() is None  # a second start does nothing
        threads = [t for t in threading.enumerate() if t.name == "alibi-lsh-janitor"]
        assert len(threads) == 1 and threads[0].daemon
        server.give_back_memory()  # collect and malloc_trim: must not fail where glibc is absent either
    finally:
        if stop is not None:
            stop.set()


def test_at_most_two_computations_run_at_once_and_nesting_does_not_deadlock():
    running, most = [0], [0]
    guard = threading.Lock()
    release = threading.Event()

    @server.limit_concurrency
    def inner() -> str:
        return "inner"

    @server.limit_concurrency
    def compute() -> str:
        with guard:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(5)
        result = inner()  # a cached computation calling another, inside its slot
        with guard:
            running[0] -= 1
        return result

    results = []
    threads = [threading.Thread(target=lambda: results.append(compute())) for _ in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # all six have asked; only COMPUTE_SLOTS got in
    assert running[0] == server.COMPUTE_SLOTS == 2
    release.set()
    for thread in threads:
        thread.join(10)
    assert results == ["inner"] * 6 and most[0] == 2
    assert compute.__wrapped__.__name__ == "compute"  # Streamlit's cache keys on the source behind it


def test_idle_callbacks_run_once_after_an_idle_period_and_again_after_new_use():
    calls = []
    server.on_idle(lambda: calls.append("dropped"))
    server.note_activity()
    assert server.release_if_idle(idle_seconds=60) is False and calls == []  # still in use
    time.sleep(0.05)
    assert server.release_if_idle(idle_seconds=0.01) is True and calls == ["dropped"]
    assert server.release_if_idle(idle_seconds=0.01) is False and calls == ["dropped"]  # once per idle period
    server.note_activity()
    time.sleep(0.05)
    assert server.release_if_idle(idle_seconds=0.01) is True and calls == ["dropped", "dropped"]


def test_the_apps_array_caches_can_be_dropped_outside_a_script_run():
    import torch

    from alibi_lsh import lsh_alibi_attention
    from alibi_lsh.app.data import attention_data, cache, lm_cache, mask_data

    mask_data.mean_of_masks(16, 0.5, 4, "binning", 0)
    assert mask_data.mean_of_masks.cache_info().currsize >= 1
    q = torch.randn(1, 2, 16, 4)
    page_draws = attention_data.PAGE_OPTIONS.draws_cache
    lsh_alibi_attention(q, q, q, [0.5, 0.25], 4, seed=0, options=attention_data.PAGE_OPTIONS)  # as the page does
    assert len(page_draws) >= 1 and page_draws.budget_bytes == 8 * 2**20  # the page's own budget
    cache.drop_array_caches()  # from the janitor's thread in a server: no script context
    lm_cache.drop_array_caches()
    assert mask_data.mean_of_masks.cache_info().currsize == 0
    assert len(page_draws) == 0

"""Housekeeping of a served process: frozen imports make full collections cheap; memory goes back."""

from __future__ import annotations

import gc
import importlib
import sys
import threading

from alibi_lsh.app import memory


def test_freeze_imports_freezes_once_per_new_import():
    memory.freeze_imports()  # whatever this test process imported so far
    assert memory.freeze_imports() is False  # nothing new: no work, nothing frozen again
    frozen = gc.get_freeze_count()
    sys.modules.pop("colorsys", None)
    importlib.import_module("colorsys")  # a module not imported yet
    assert memory.freeze_imports() is True and gc.get_freeze_count() >= frozen


def test_a_full_collection_after_freezing_skips_the_frozen_objects():
    memory.freeze_imports()
    cycle = []
    cycle.append(cycle)  # cyclic garbage created after the freeze is still collected
    del cycle
    assert gc.collect() >= 1
    # What a collection walks (gc.get_objects) leaves out the frozen heap, most of the process's objects.
    assert gc.get_freeze_count() > len(gc.get_objects()), (gc.get_freeze_count(), len(gc.get_objects()))


def test_janitor_starts_once_and_gives_memory_back():
    stop = memory.start_janitor(period=0.05)
    try:
        assert memory.start_janitor() is None  # a second start does nothing
        threads = [t for t in threading.enumerate() if t.name == "alibi-lsh-janitor"]
        assert len(threads) == 1 and threads[0].daemon
        memory.give_back_memory()  # collect and malloc_trim: must not fail where glibc is absent either
    finally:
        if stop is not None:
            stop.set()

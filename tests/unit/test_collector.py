"""The collector held back while a pass acts, and put back as it was after the last one."""

from __future__ import annotations

import gc
import threading

import pytest

from controller.collector import YOUNG_THRESHOLD, held_back


def test_a_pass_freezes_the_heap_and_collects_the_young_less_often_then_undoes_both() -> None:
    before = gc.get_threshold()
    with held_back():
        assert gc.get_freeze_count() > 0, "what existed at the start is out of the walks"
        assert gc.get_threshold() == (max(YOUNG_THRESHOLD, before[0]), *before[1:])
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_overlapping_passes_leave_the_collector_as_it_was_after_the_last() -> None:
    before = gc.get_threshold()
    first_in, second_out, first_out = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with held_back():
            first_in.set()
            second_out.wait(5)
        first_out.set()

    worker = threading.Thread(target=first)
    worker.start()
    assert first_in.wait(5)
    with held_back():  # begins while the first acts, ends before it
        pass
    assert gc.get_threshold() != before, "the first pass still acts"
    second_out.set()
    worker.join(5)
    assert first_out.is_set()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_a_pass_that_fails_undoes_it_too() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), held_back():
        raise RuntimeError("a pass failed")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0

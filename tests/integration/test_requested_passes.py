"""A pass asked for while another runs (an order revoked mid-pass) is not lost: it runs as soon
as the running one ends, and any number of requests meanwhile make one more pass, not many."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from controller.reconciler import Reconciler
from controller.scheduler import PassScheduler
from controller.store import Store


class HeldReconciler(Reconciler):
    """A real reconciler whose second pass (the first one requested) waits until the test lets
    it go."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.release = threading.Event()
        self.started = threading.Event()
        self.passes = 0

    def run_pass(self, at, dry_run=False, read_devices=False):
        self.passes += 1
        if self.passes == 2:
            self.started.set()
            assert self.release.wait(30), "the test never released the first pass"
        return super().run_pass(at, dry_run=dry_run, read_devices=read_devices)


def wait_for(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_requests_during_a_running_pass_make_exactly_one_more_pass(city_store: Store):
    reconciler = HeldReconciler(city_store)
    scheduler = PassScheduler(reconciler, city_store.clock, tick=timedelta(hours=1))
    scheduler.start()
    try:
        wait_for(lambda: reconciler.passes == 1 and scheduler.last_report is not None)
        scheduler.request_pass()  # the pass that is held
        assert reconciler.started.wait(20)
        for _ in range(5):  # e.g. five revocations while that pass pushes
            scheduler.request_pass()
        reconciler.release.set()
        wait_for(lambda: reconciler.passes >= 3)
        time.sleep(0.5)  # room for any extra pass to (wrongly) run
        assert reconciler.passes == 3
        scheduler.request_pass()  # a request after that pass runs a pass of its own
        wait_for(lambda: reconciler.passes == 4)
    finally:
        reconciler.release.set()
        scheduler.shutdown()

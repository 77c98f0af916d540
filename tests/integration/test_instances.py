"""Several controller instances on one database split the routers and never double a change;
a claim dies with the instance that held it. Runs on SQLite (file locks) and PostgreSQL
(advisory locks), against lab routers over real SSH."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

import pytest

from controller.claims import claims_for
from controller.clock import SimulatedClock
from controller.inventory import import_document
from controller.orders import OrderCreate, issue_order
from controller.reconciler import PassReport, Reconciler
from controller.store import Store
from lab.topology import Lab, city
from tests.conftest import SHANGHAI

pytestmark = pytest.mark.lab

NIGHT = datetime(2026, 11, 25, tzinfo=SHANGHAI)
DEVICES, LINES_PER_DEVICE = 4, 3
CLAIM_HOLDER = """
import sys, time
from controller.claims import claims_for
from controller.db import make_engine
with claims_for(make_engine(sys.argv[1])) as claims:
    assert claims.try_claim(int(sys.argv[2]))
    print("held", flush=True)
    time.sleep(60)  # killed long before; bounded all the same
"""


@pytest.fixture
def night(database_url: str, clock: SimulatedClock):
    """A lab city with a curfew order on every venue, and the database it is imported into."""
    specs, inventory = city(devices=DEVICES, lines_per_device=LINES_PER_DEVICE)
    with Lab(specs) as lab:
        store = Store.open(database_url, clock=clock)
        import_document(store, lab.inventory(inventory), "lab city")
        for venue in store.venues():
            issue_order(
                store,
                OrderCreate(venue=venue.name, kind="curfew", reason="after_hours",
                            legal_basis="临兰文执发〔2018〕3号",
                            effective_from=NIGHT - timedelta(days=7)),
                actor="bureau:test",
            )  # fmt: skip
        store.close()
        yield lab


def instance(database_url: str, clock: SimulatedClock, name: str) -> Reconciler:
    return Reconciler(Store.open(database_url, clock=clock), workers=2, actor=name)


def claimable(store: Store, device_id: int) -> bool:
    """Whether a claim on the device could be taken now (it is released again at once)."""
    with claims_for(store.engine) as claims:
        return claims.try_claim(device_id)


def devices_worked(store: Store, actor: str, action: str) -> set[int]:
    """Devices on which `actor` logged an `action` outcome that sent commands."""
    return {
        change.device_id
        for change in store.changes()
        if change.actor == actor and change.kind == "outcome" and change.action == action
        and json.loads(change.commands_json)
    }  # fmt: skip


def test_two_instances_at_midnight_split_the_routers_and_cut_each_line_once(
    night: Lab, database_url: str, clock: SimulatedClock
) -> None:
    for name in [spec.name for spec in night.specs]:
        night.set_fault(name, latency_ms=20)  # pushes overlap in time
    a, b = instance(database_url, clock, "instance-a"), instance(database_url, clock, "instance-b")
    at = NIGHT + timedelta(seconds=5)
    clock.set(at)
    start = threading.Barrier(2)
    reports: dict[str, PassReport] = {}

    def run(reconciler: Reconciler) -> None:
        start.wait(timeout=30)
        reports[reconciler.actor] = reconciler.run_pass(at)

    threads = [threading.Thread(target=run, args=(r,)) for r in (a, b)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads)
        assert set(reports) == {"instance-a", "instance-b"}
        assert all(report.ok for report in reports.values()), reports

        changes = a.store.changes()
        cuts = [c for c in changes if c.kind == "outcome" and c.action == "cut"]
        per_line = {line.id: 0 for line in a.store.lines()}
        for cut in cuts:
            if json.loads(cut.commands_json):
                per_line[cut.line_id] += 1
        assert per_line == {line_id: 1 for line_id in per_line}, "each line cut exactly once"
        assert all(cut.verified for cut in cuts)
        by_a = devices_worked(a.store, "instance-a", "cut")
        by_b = devices_worked(a.store, "instance-b", "cut")
        assert by_a.isdisjoint(by_b), "no router worked by both"
        assert by_a | by_b == {d.id for d in a.store.devices()}
        assert {s.state for s in a.store.line_statuses().values()} == {"cut"}
        for name in [spec.name for spec in night.specs]:
            assert night.router(name).running_config().count("ip access-group CURFEW") == (
                2 * LINES_PER_DEVICE
            ), name  # one IPv4 and one IPv6 binding per line, not two of either

        # the morning: one instance alone restores everything the two cut
        morning = NIGHT + timedelta(hours=8, seconds=5)
        clock.set(morning)
        restored = b.run_pass(morning)
        assert restored.ok and len(restored.results) == DEVICES * LINES_PER_DEVICE
        assert all(
            "CURFEW" not in night.router(n).running_config()
            for n in [spec.name for spec in night.specs]
        )
    finally:
        a.store.close()
        b.store.close()


def test_a_router_claimed_by_a_dead_instance_is_taken_over_at_the_next_pass(
    night: Lab, database_url: str, clock: SimulatedClock
) -> None:
    survivor = instance(database_url, clock, "instance-b")
    first = min(survivor.store.devices(), key=lambda d: d.name)
    holder = subprocess.Popen(
        [sys.executable, "-c", CLAIM_HOLDER, database_url, str(first.id)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held", (
            holder.stderr.read() if holder.stderr else ""
        )
        at = NIGHT + timedelta(seconds=5)
        clock.set(at)
        report = survivor.run_pass(at)
        assert report.skipped == [f"{first.name}: claimed by another controller instance"]
        assert len(report.results) == (DEVICES - 1) * LINES_PER_DEVICE and report.ok
        assert "CURFEW" not in night.router(first.name).running_config(), "left to its holder"

        holder.kill()  # the other instance dies holding the claim
        holder.wait(timeout=30)
        # the kernel drops the dead process's file lock at once; PostgreSQL drops its advisory
        # lock when the server notices the closed connection, a moment later: wait for that
        # (bounded), as the next tick would
        deadline = time.monotonic() + 30
        while not claimable(survivor.store, first.id):
            assert time.monotonic() < deadline, "the dead instance's claim was never released"
            time.sleep(0.05)

        later = at + timedelta(minutes=1)
        clock.set(later)
        taken_over = survivor.run_pass(later)
        assert taken_over.skipped == [] and taken_over.ok
        assert {r.device for r in taken_over.results} == {first.name}
        assert len(taken_over.results) == LINES_PER_DEVICE
        assert "ip access-group CURFEW" in night.router(first.name).running_config()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)
        survivor.store.close()

"""The reconciler and scheduler against lab routers over real SSH and a real SQLite store."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from controller.clock import SimulatedClock
from controller.inventory import import_document
from controller.orders import OrderCreate, issue_order, revoke_order
from controller.reconciler import Reconciler
from controller.scheduler import PassScheduler
from controller.store import ChangeFilter, Store
from lab.topology import Lab, city
from tests.conftest import SHANGHAI

pytestmark = pytest.mark.lab

NIGHT = datetime(2026, 11, 25, tzinfo=SHANGHAI)


@pytest.fixture
def lab():
    specs, inventory = city(devices=2, lines_per_device=2)
    with Lab(specs) as running:
        running.city_inventory = inventory
        yield running


@pytest.fixture
def lab_store(store: Store, lab: Lab) -> Store:
    import_document(store, lab.inventory(lab.city_inventory), "lab city")
    return store


def order(store: Store, venue: str, kind: str = "curfew", **fields) -> int:
    request = OrderCreate(
        venue=venue,
        kind=kind,
        reason="after_hours",
        legal_basis=fields.pop("legal_basis", "临兰文执发〔2018〕3号"),
        effective_from=fields.pop("effective_from", NIGHT - timedelta(days=7)),
        **fields,
    )
    created = issue_order(store, request, actor="bureau:test")
    assert created.id is not None
    return created.id


def bindings(lab: Lab, device: str) -> list[str]:
    return [
        line.strip()
        for line in lab.router(device).running_config().splitlines()
        if "CURFEW" in line
    ]


def wait_for(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_a_pass_cuts_then_restores_and_logs_both_against_the_order(lab, lab_store):
    order_id = order(lab_store, "Venue R1-1")
    reconciler = Reconciler(lab_store)
    at_cut = NIGHT + timedelta(seconds=5)
    lab_store.clock.set(at_cut)
    report = reconciler.run_pass(at_cut)
    assert report.ok, report.failures
    assert "ip access-group CURFEW-L1 in" in bindings(lab, "R1")
    assert bindings(lab, "R2") == []

    at_restore = NIGHT + timedelta(hours=8, seconds=5)
    lab_store.clock.set(at_restore)
    assert reconciler.run_pass(at_restore).ok
    assert bindings(lab, "R1") == []

    log = lab_store.changes(ChangeFilter(order_id=order_id))
    assert [(c.kind, c.action) for c in log] == [
        ("admin", "order_issued"),
        ("intent", "cut"),
        ("outcome", "cut"),
        ("intent", "restore"),
        ("outcome", "restore"),
    ]
    intent, outcome = log[1], log[2]
    assert outcome.intent_seq == intent.seq and intent.seq < outcome.seq  # written ahead
    assert outcome.verified and outcome.state_after == "cut"
    assert any("ip access-list extended CURFEW-L1" in c for c in outcome.commands)
    assert log[4].verified and log[4].state_after == "open"
    assert any(c.startswith("no ip access-list extended CURFEW-L1") for c in log[4].commands)


def test_a_second_pass_changes_nothing(lab, lab_store):
    order(lab_store, "Venue R1-1")
    reconciler = Reconciler(lab_store)
    at = NIGHT + timedelta(hours=1)
    assert reconciler.run_pass(at).ok
    config = lab.router("R1").running_config()
    again = reconciler.run_pass(at + timedelta(minutes=1))
    assert again.batches == [] and again.results == []
    assert lab.router("R1").running_config() == config


def test_controller_started_at_three_cuts_at_once(lab, lab_store):
    order(lab_store, "Venue R2-1")
    clock = lab_store.clock
    assert isinstance(clock, SimulatedClock)
    clock.set(NIGHT + timedelta(hours=3))
    scheduler = PassScheduler(Reconciler(lab_store), clock, tick=timedelta(hours=1))
    scheduler.start()
    try:
        wait_for(lambda: scheduler.last_report is not None)
    finally:
        scheduler.shutdown()
    assert scheduler.last_report.ok
    assert "ip access-group CURFEW-L3 in" in bindings(lab, "R2")
    # and it planned the restore for 08:00 Shanghai
    assert scheduler.next_transition == NIGHT + timedelta(hours=8)


def test_controller_started_at_nine_restores_a_line_left_cut(lab, lab_store):
    order(lab_store, "Venue R1-2")
    clock = lab_store.clock
    clock.set(NIGHT + timedelta(hours=2))
    assert Reconciler(lab_store).run_pass(clock.now()).ok
    assert bindings(lab, "R1")  # cut, then the controller "went down" over 08:00

    clock.set(NIGHT + timedelta(hours=9))
    scheduler = PassScheduler(Reconciler(lab_store), clock, tick=timedelta(hours=1))
    scheduler.start()
    try:
        wait_for(lambda: scheduler.last_report is not None)
    finally:
        scheduler.shutdown()
    assert scheduler.last_report.ok
    assert bindings(lab, "R1") == []
    restore = lab_store.changes(ChangeFilter(kinds=("outcome",)))[-1]
    assert restore.action == "restore" and restore.verified and restore.order_ids


def test_revocation_mid_window_restores_on_the_next_pass(lab, lab_store):
    order_id = order(lab_store, "Venue R1-1")
    clock = lab_store.clock
    reconciler = Reconciler(lab_store)
    clock.set(NIGHT + timedelta(hours=1))
    assert reconciler.run_pass(clock.now()).ok
    clock.set(NIGHT + timedelta(hours=2))
    revoke_order(lab_store, order_id, "appeal upheld", actor="bureau:test")
    report = reconciler.run_pass(clock.now())
    assert report.ok and [r.change.action.value for r in report.results] == ["restore"]
    assert bindings(lab, "R1") == []
    actions = [c.action for c in lab_store.changes(ChangeFilter(order_id=order_id))]
    assert actions[-3:] == ["order_revoked", "restore", "restore"]


def test_an_unreachable_router_is_logged_unknown_and_retried_next_pass(lab, lab_store):
    order(lab_store, "Venue R1-1")
    lab.set_fault("R1", refuse_connections=True)
    reconciler = Reconciler(lab_store, device_timeout=3)
    at = NIGHT + timedelta(minutes=1)
    report = reconciler.run_pass(at)
    failed = [r for r in report.results if r.change.line_id == 1]
    assert failed and not failed[0].verified and failed[0].retryable
    assert lab_store.line_statuses()[1].state == "unknown"
    outcome = lab_store.changes(ChangeFilter(line_id=1, kinds=("outcome",)))[-1]
    assert outcome.error and "Unreachable" in outcome.error

    lab.set_fault("R1", refuse_connections=False)
    retry = reconciler.run_pass(at + timedelta(minutes=1))
    assert retry.ok and lab_store.line_statuses()[1].state == "cut"


def test_dry_run_plans_without_touching_devices_or_the_log(lab, lab_store):
    order(lab_store, "Venue R1-1")
    before = len(lab_store.changes())
    report = Reconciler(lab_store).run_pass(NIGHT + timedelta(hours=1), dry_run=True)
    assert report.dry_run and any(b.device.name == "R1" for b in report.batches)
    assert bindings(lab, "R1") == [] and len(lab_store.changes()) == before


def test_a_cut_removed_by_hand_is_logged_as_drift_and_cut_again(lab, lab_store):
    order_id = order(lab_store, "Venue R1-1")
    reconciler = Reconciler(lab_store)
    at = NIGHT + timedelta(hours=1)
    lab_store.clock.set(at)
    assert reconciler.run_pass(at).ok
    lab.router("R1").configure(["interface GigabitEthernet0/1", " no ip access-group CURFEW-L1 in"])

    unaware = reconciler.run_pass(at + timedelta(minutes=1))
    assert unaware.batches == [], "without reading devices a pass trusts its record"

    report = reconciler.run_pass(at + timedelta(minutes=2), read_devices=True)
    assert report.drifted == [1] and report.ok
    assert [r.change.action.value for r in report.results] == ["cut"]
    assert "ip access-group CURFEW-L1 in" in bindings(lab, "R1")
    drift = [c for c in lab_store.changes(ChangeFilter(line_id=1)) if c.action == "drift"]
    assert len(drift) == 1 and drift[0].order_ids == [order_id]
    assert drift[0].state_after == "unknown" and "changed outside the controller" in drift[0].detail
    quiet = reconciler.run_pass(at + timedelta(minutes=3), read_devices=True)
    assert quiet.drifted == [] and quiet.batches == []


def test_a_transition_is_timed_from_the_schedulers_clock_not_the_wall(lab, lab_store):
    """A simulated 03:00 long ago: 08:00 is five clock-hours ahead, not overdue in real time."""
    order(lab_store, "Venue R2-1", effective_from=datetime(2019, 12, 1, tzinfo=SHANGHAI))
    clock = lab_store.clock
    clock.set(datetime(2020, 1, 1, 3, 0, tzinfo=SHANGHAI))
    scheduler = PassScheduler(Reconciler(lab_store), clock, tick=timedelta(hours=1))
    scheduler.start()
    try:
        wait_for(lambda: scheduler.last_report is not None)
        wakes = scheduler.transition_wakes_at
        reports = scheduler.last_report
    finally:
        scheduler.shutdown()
    assert scheduler.next_transition == datetime(2020, 1, 1, 8, 0, tzinfo=SHANGHAI)
    assert wakes is not None
    ahead = wakes - clock.wall_time_of(clock.now())
    assert timedelta(hours=4, minutes=59) < ahead <= timedelta(hours=5)
    assert scheduler.last_report is reports, "no overdue transition pass ran"


def test_a_restarted_controller_reads_snmp_ports_without_seeing_false_drift(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An SNMP switch holds no line names: after a restart the drift read must be told which
    port is which line, or every cut port would be logged as changed behind our back."""
    from drivers import snmp_ifadmin

    specs, inventory = city(devices=1, lines_per_device=2, platforms=("snmp_ifadmin",))
    with Lab(specs) as lab:
        import_document(store, lab.inventory(inventory), "snmp city")
        for venue in store.venues():
            order(store, venue.name)
        reconciler = Reconciler(store)
        at = NIGHT + timedelta(seconds=5)
        store.clock.set(at)
        assert reconciler.run_pass(at).ok
        # a new process: the driver's book of which port is which line starts empty
        monkeypatch.setattr(snmp_ifadmin, "LINES", snmp_ifadmin.LineBook())
        later = at + timedelta(minutes=10)
        store.clock.set(later)
        report = reconciler.run_pass(later, read_devices=True)
        assert report.drifted == [] and report.results == [] and report.ok
        assert [c for c in store.changes() if c.action == "drift"] == []

        # and real drift on such a port is still seen: someone brings a cut port up by hand
        line = store.lines()[0]
        lab.router("R1").configure([f"interface {line.interface} admin up"])
        much_later = later + timedelta(minutes=10)
        store.clock.set(much_later)
        report = reconciler.run_pass(much_later, read_devices=True)
        assert report.drifted == [line.id] and report.ok


class Interleaved(Reconciler):
    """A reconciler in which `meanwhile` runs right after the pass has planned: what another
    request (or instance) does between the plan and the push."""

    def __init__(self, store: Store, meanwhile) -> None:
        super().__init__(store)
        self.meanwhile = meanwhile

    def diff(self, at, snapshot=None):
        planned = super().diff(at, snapshot)
        meanwhile, self.meanwhile = self.meanwhile, None
        if meanwhile is not None:
            meanwhile()
        return planned


def test_an_order_revoked_between_plan_and_push_is_not_executed(lab, lab_store):
    kept = order(lab_store, "Venue R1-1")
    revoked = order(lab_store, "Venue R1-2")
    at = NIGHT + timedelta(seconds=5)
    lab_store.clock.set(at)
    reconciler = Interleaved(
        lab_store, lambda: revoke_order(lab_store, revoked, "appeal upheld", "bureau:test")
    )
    report = reconciler.run_pass(at)
    assert report.ok
    venues = {v.name: v.id for v in lab_store.venues()}
    cut = {r.change.venue_id for r in report.results if r.change.action.value == "cut"}
    assert cut == {venues["Venue R1-1"]}, "only the order still in force is executed"
    on_r1 = bindings(lab, "R1")
    assert "ip access-group CURFEW-L1 in" in on_r1
    assert not any("-L2 " in b or b.endswith("-L2") for b in on_r1), on_r1
    assert kept and [c for c in lab_store.changes(ChangeFilter(order_id=revoked))
                     if c.kind != "admin"] == []  # fmt: skip


def test_a_device_frozen_between_plan_and_push_is_left_alone(lab, lab_store):
    order(lab_store, "Venue R1-1")
    at = NIGHT + timedelta(seconds=5)
    lab_store.clock.set(at)
    device = next(d for d in lab_store.devices() if d.name == "R1")

    def freeze() -> None:
        with lab_store.transaction() as tx:
            row = tx.session.get(type(device), device.id)
            row.frozen = True
            tx.session.add(row)
            tx.log_admin("device_frozen", "noc:test", device_id=device.id)

    report = Interleaved(lab_store, freeze).run_pass(at)
    assert report.skipped == ["R1: frozen by the NOC"]
    assert [r for r in report.results if r.device == "R1"] == []
    assert bindings(lab, "R1") == []


def test_an_order_changed_mid_pass_is_planned_again_once_for_every_device(
    lab, lab_store, monkeypatch
):
    ids = [order(lab_store, venue.name) for venue in lab_store.venues()]
    at = NIGHT + timedelta(seconds=5)
    lab_store.clock.set(at)
    reconciler = Interleaved(
        lab_store, lambda: revoke_order(lab_store, ids[0], "appeal upheld", "bureau:test")
    )
    snapshots = []
    real = lab_store.snapshot
    monkeypatch.setattr(lab_store, "snapshot", lambda: snapshots.append(1) or real())
    report = reconciler.run_pass(at)
    cuts = [r for r in report.results if r.change.action.value == "cut"]
    assert report.ok and len(cuts) == len(ids) - 1, "the revoked order is not executed"
    assert len(snapshots) == 2, "the pass's plan and one re-plan, not one per device"


def test_a_pass_acts_with_the_collector_held_back_and_puts_it_back(lab_store):
    """`controller.collector`: while the routers are worked the heap is frozen out of the
    collector's walks; after the pass the collector is as it was."""
    import gc

    order(lab_store, "Venue R1-1")
    before = gc.get_threshold()
    frozen_while_working: list[int] = []
    reconciler = Reconciler(
        lab_store, progress=lambda *_: frozen_while_working.append(gc.get_freeze_count())
    )
    assert reconciler.run_pass(NIGHT).ok
    assert frozen_while_working and all(count > 0 for count in frozen_while_working)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0

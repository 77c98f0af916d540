"""Device-timed windows on the Junos twin over real SSH, on a real store, in simulated time:
the arming is one `commit at` the router runs by its own clock at 00:00; the controller's pass
verifies it, restores at 08:00, and cancels the scheduled commit where it must (the IOS
counterpart is tests/integration/test_device_timing.py).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.cli.plan import describe_pass, pass_json
from controller.clock import SimulatedClock
from controller.device_timing import (
    ARMED,
    DISARMED,
    ENDED,
    RESTORE,
    RESTORE_SETTLE,
    ArmReport,
    arm,
    arm_before,
    armed_windows,
    disarm_revoked,
    rearm_after_pass,
)
from controller.inventory import import_document
from controller.orders import OrderCreate, issue_order, revoke_order
from controller.reconciler import Reconciler, connect_driver
from controller.settings import Settings
from controller.store import ChangeFilter, Store
from drivers.base import Batch
from lab.topology import Lab, city
from tests.conftest import ADMIN_TOKEN, SQLITE_ONLY
from tests.integration.device_timing_support import NIGHT, opt_in, order, owned
from tests.integration.test_observability import sample

pytestmark = [pytest.mark.lab, SQLITE_ONLY]

PLATFORM = "juniper_junos"
CHINA = "set system time-zone Asia/Shanghai"


@pytest.fixture
def lab():
    """R1 with two venue lines, R2 with two; the inventory as `city_inventory`."""
    specs, inventory = city(devices=2, lines_per_device=2, platforms=(PLATFORM,))
    with Lab(specs) as running:
        running.city_inventory = inventory
        yield running


@pytest.fixture
def session_layer() -> str:
    """The routers' session layer (their `session` option); a test may parametrize it."""
    return "netmiko"


@pytest.fixture
def lab_store(tmp_path, lab: Lab, session_layer: str):
    """R1 opted in to device timing, its clock the store's, in Asia/Shanghai; R2 not."""
    clock = SimulatedClock(NIGHT - timedelta(minutes=5))  # 23:55
    store = Store.open(f"sqlite:///{tmp_path / 'curfew.db'}", clock=clock)
    try:
        document = opt_in(lab.inventory(lab.city_inventory), "R1")
        for device in document["devices"]:
            device.setdefault("options", {})["session"] = session_layer
        import_document(store, document, "lab city")
        router = lab.router("R1")
        router.clock.follow(clock.now)
        router.configure([CHINA])
        assert Reconciler(store).run_pass(clock.now()).ok  # every line read once: open
        yield store
    finally:
        store.close()


def disconnect(store: Store, venue: str, reason: str, legal_basis: str) -> int | None:
    """A disconnection of the venue, in force from the store's now; its id."""
    return issue_order(
        store,
        OrderCreate(
            venue=venue, kind="disconnect", reason=reason, legal_basis=legal_basis,
            effective_from=store.clock.now(),
        ),
        actor="bureau:test",
    ).id  # fmt: skip


def cancelled_by_a_pass_and_armed_again(lab: Lab, store: Store) -> tuple[ArmReport, Reconciler]:
    """Venue R1-2 is disconnected now: the pass cuts it with a commit of its own, which
    cancels R1's scheduled commit; what `rearm_after_pass` then arms, and the reconciler."""
    disconnect(store, "Venue R1-2", "unlicensed", "临兰文执发〔2018〕4号")
    reconciler = Reconciler(store)
    report = reconciler.run_pass(store.clock.now())
    assert report.ok and [r.change.line_id for r in report.results] == [2]
    assert scheduled_at(lab) is None  # the pass's own commit cancelled the schedule
    (again,) = rearm_after_pass(reconciler, report, store.clock.now())
    return again, reconciler


def scheduled_at(lab: Lab):
    scheduled = lab.router("R1").scheduled
    return None if scheduled is None else scheduled.at


@pytest.mark.parametrize("session_layer", ["netmiko", "asyncssh"])
def test_armed_at_2355_the_router_commits_at_midnight_and_the_pass_records_it_verified(
    lab, lab_store
):
    order_id = order(lab_store, "Venue R1-1")
    clock = lab_store.clock
    report = arm(lab_store, connect_driver, NIGHT, "scheduler")
    assert report.armed == [1] and report.fallbacks == {}
    # nothing committed yet: the router holds the cut in a commit of its own for 00:00
    assert owned(lab) == [] and scheduled_at(lab) == NIGHT
    (row,) = armed_windows(lab_store)
    assert (row.line_id, row.status, row.window_start, row.window_end) == (
        1, ARMED, NIGHT, NIGHT + timedelta(hours=8),
    )  # fmt: skip
    log = lab_store.changes(ChangeFilter(order_id=order_id))
    (armed,) = [c for c in log if c.action == "armed"]
    assert armed.verified and armed.state_after == "open"
    assert "commit at will be executed at 2026-11-25 00:00:00 CST" in armed.output
    assert "a commit scheduled for 2026-11-25 00:00:00" in armed.detail
    assert "set interfaces" in " ".join(armed.commands)

    # armed is open: one second before, the router has committed nothing and a pass sends nothing
    clock.set(NIGHT - timedelta(seconds=1))
    assert owned(lab) == []
    assert Reconciler(lab_store).run_pass(clock.now()).batches == []
    clock.set(NIGHT)
    config = owned(lab)  # no controller pass yet: the router committed on its own clock
    assert any("filter input CURFEW-L1" in line for line in config)
    assert scheduled_at(lab) is None
    assert any("scheduled commit complete" in event for event in lab.router("R1").events)

    # the pass at 00:00 finds the line cut: a verified cut, no command sent
    report = Reconciler(lab_store).run_pass(NIGHT)
    assert report.ok and [r.state_after.value for r in report.results] == ["cut"]
    cut = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))[-1]
    assert (cut.action, cut.verified, cut.state_after, cut.commands) == ("cut", True, "cut", [])
    # nothing was sent, so nothing was written ahead: the pass logged only what it found
    assert cut.intent_seq is None
    assert not [c for c in lab_store.changes(ChangeFilter(kinds=("intent",))) if c.at >= NIGHT]
    # the evidence: the router's own commit, at 00:00:00 CST by its clock, with our comment
    assert (
        "line 1: found cut, nothing sent; the router's latest commit: 2026-11-24 16:00:00 UTC "
        "by curfew via cli (curfew)" in cut.output
    )

    # 08:00: the restore is the controller's pass, a plain commit
    clock.set(NIGHT + timedelta(hours=8))
    assert Reconciler(lab_store).run_pass(clock.now()).ok
    restore = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))[-1]
    assert restore.action == "restore" and restore.verified and restore.state_after == "open"
    assert owned(lab) == []
    assert disarm_revoked(lab_store, connect_driver, clock.now(), "scheduler").ended == 1
    assert armed_windows(lab_store, (ENDED,))[0].line_id == 1


def test_a_revocation_cancels_the_scheduled_commit_and_the_router_s_other_line_is_armed_again(
    lab, lab_store
):
    first = order(lab_store, "Venue R1-1")
    order(lab_store, "Venue R1-2")
    clock = lab_store.clock
    assert sorted(arm(lab_store, connect_driver, NIGHT, "scheduler").armed) == [1, 2]
    clock.set(NIGHT - timedelta(minutes=3))
    revoke_order(lab_store, first, "licence restored", "bureau:test")
    report = disarm_revoked(lab_store, connect_driver, clock.now(), "scheduler")
    assert report.disarmed == [1] and report.failed == {} and report.rearmed == [2]
    assert scheduled_at(lab) == NIGHT  # line 2's cut scheduled again, alone
    log = lab_store.changes(ChangeFilter(line_id=1, kinds=("intent", "outcome")))
    disarmed = log[-1]
    assert (disarmed.action, disarmed.verified) == ("disarmed", True)
    assert disarmed.commands[0] == "clear system commit"
    assert armed_windows(lab_store, (DISARMED,))[0].line_id == 1
    assert {row.line_id for row in armed_windows(lab_store, (ARMED,))} == {2}

    clock.set(NIGHT)
    config = owned(lab)
    assert any("CURFEW-L2" in line for line in config)
    assert not any("CURFEW-L1" in line for line in config)  # line 1 never cut
    report = Reconciler(lab_store).run_pass(NIGHT)
    assert report.ok and [r.change.line_id for r in report.results] == [2]
    cut = lab_store.changes(ChangeFilter(line_id=2, kinds=("outcome",)))[-1]
    assert (cut.action, cut.verified, cut.commands) == ("cut", True, [])  # the router's own


def test_arming_again_sends_nothing_and_a_line_due_since_is_scheduled_with_the_others(
    lab, lab_store
):
    order(lab_store, "Venue R1-1")
    clock = lab_store.clock
    assert arm(lab_store, connect_driver, NIGHT, "scheduler").armed == [1]
    assert arm(lab_store, connect_driver, NIGHT, "scheduler").armed == [1]
    again = lab_store.changes(ChangeFilter(line_id=1, kinds=("outcome",)))[-1]
    assert (again.action, again.commands) == ("armed", [])  # armed exactly so already

    order(lab_store, "Venue R1-2")  # a suspension of the router's other venue, 23:57
    clock.set(NIGHT - timedelta(minutes=3))
    assert sorted(arm(lab_store, connect_driver, NIGHT, "scheduler").armed) == [1, 2]
    assert scheduled_at(lab) == NIGHT
    assert "Pending commit cleared" in lab_store.changes(ChangeFilter(line_id=2))[-1].output
    clock.set(NIGHT)
    config = " ".join(owned(lab))
    assert "filter input CURFEW-L1" in config and "filter input CURFEW-L2" in config


def test_a_pass_that_cancels_the_schedule_before_the_instant_is_followed_by_arming_again(
    lab, lab_store
):
    """A venue of the router is disconnected at 23:57: the pass cuts it, which cancels the
    router's scheduled commit; the other line is armed again after that pass."""
    curfew = order(lab_store, "Venue R1-1")
    clock = lab_store.clock
    assert arm(lab_store, connect_driver, NIGHT, "scheduler").armed == [1]
    clock.set(NIGHT - timedelta(minutes=3))
    again, reconciler = cancelled_by_a_pass_and_armed_again(lab, lab_store)
    assert again.armed == [1] and scheduled_at(lab) == NIGHT
    armed = lab_store.changes(ChangeFilter(order_id=curfew, kinds=("outcome",)))[-1]
    assert armed.action == "armed" and armed.verified

    clock.set(NIGHT)
    config = " ".join(owned(lab))
    assert "filter input CURFEW-L1" in config and "filter input CURFEW-L2" in config
    # a pass that touched no router whose cuts wait on a schedule arms nothing
    assert rearm_after_pass(reconciler, Reconciler(lab_store).run_pass(NIGHT), NIGHT) == []


def test_a_revocation_after_the_router_committed_is_left_to_the_pass_which_restores(lab, lab_store):
    """Once the schedule has run, the cut is a commit like a pass's: the disarm refuses it
    (as IOS refuses a cut without a time-range) and the pass after it restores the line."""
    order_id = order(lab_store, "Venue R1-1")
    clock = lab_store.clock
    assert arm(lab_store, connect_driver, NIGHT, "scheduler").armed == [1]
    clock.set(NIGHT)
    assert Reconciler(lab_store).run_pass(NIGHT).ok
    clock.set(NIGHT + timedelta(hours=2))
    revoke_order(lab_store, order_id, "licence restored", "bureau:test")
    report = disarm_revoked(lab_store, connect_driver, clock.now(), "scheduler")
    assert report.disarmed == [] and "left to the passes" in report.failed[1]
    refused = lab_store.changes(ChangeFilter(line_id=1, kinds=("outcome",)))[-1]
    assert (refused.action, refused.verified, refused.commands) == ("disarm", False, [])
    assert any("filter input CURFEW-L1" in line for line in owned(lab))  # nothing sent
    assert Reconciler(lab_store).run_pass(clock.now()).ok
    restore = lab_store.changes(ChangeFilter(line_id=1, kinds=("outcome",)))[-1]
    assert (restore.action, restore.verified, restore.state_after) == ("restore", True, "open")
    assert owned(lab) == []


def test_a_line_found_cut_when_arming_keeps_its_cut_and_the_others_are_armed(lab, lab_store):
    """Line 1 is cut on the router though the controller thinks it open (drift): the arming
    refuses it and the cleanup after leaves its cut alone; line 2 is scheduled."""
    order(lab_store, "Venue R1-1")
    order(lab_store, "Venue R1-2")
    snap = lab_store.snapshot()
    with connect_driver(snap.devices[1], 10.0) as driver:
        assert driver.apply(Batch(cuts=(snap.targets[1],))).outcomes[0].verified
    report = arm(lab_store, connect_driver, NIGHT, "scheduler")
    assert report.armed == [2] and "is cut already" in report.fallbacks[1]
    assert scheduled_at(lab) == NIGHT
    assert any("filter input CURFEW-L1" in line for line in owned(lab))  # still cut


def test_nothing_is_staged_on_a_router_whose_schedule_is_pending(lab, lab_store):
    """A stage (the prepare's bodies of a line not armed) would cancel the armed cuts' commit:
    it is refused instead, and the schedule stands."""
    order(lab_store, "Venue R1-1")
    assert arm(lab_store, connect_driver, NIGHT, "scheduler").armed == [1]
    snap = lab_store.snapshot()
    with connect_driver(snap.devices[1], 10.0) as driver:
        staged = driver.stage(Batch(cuts=(snap.targets[2],)))
    assert "nothing is staged before it runs" in str(staged.error)
    assert not staged.lines[0].done and staged.commands == ()
    assert scheduled_at(lab) == NIGHT


def test_a_revocation_in_the_last_minute_leaves_the_other_line_to_the_pass(lab, lab_store):
    """Junos takes a `commit at` only more than a minute ahead: the other line's arming again
    is refused, logged, and the pass at 00:00 cuts it."""
    first = order(lab_store, "Venue R1-1")
    second = order(lab_store, "Venue R1-2")
    clock = lab_store.clock
    assert sorted(arm(lab_store, connect_driver, NIGHT, "scheduler").armed) == [1, 2]
    clock.set(NIGHT - timedelta(seconds=30))
    revoke_order(lab_store, first, "licence restored", "bureau:test")
    report = disarm_revoked(lab_store, connect_driver, clock.now(), "scheduler")
    assert report.disarmed == [1] and report.rearmed == []
    assert scheduled_at(lab) is None
    failed = lab_store.changes(ChangeFilter(order_id=second))[-1]
    assert failed.action == "arm" and failed.verified is False
    assert "commit at" in (failed.error or "")

    clock.set(NIGHT)
    assert owned(lab) == []
    report = Reconciler(lab_store).run_pass(NIGHT)
    assert report.ok and [r.change.line_id for r in report.results] == [2]
    cut = lab_store.changes(ChangeFilter(line_id=2, kinds=("outcome",)))[-1]
    assert (cut.action, cut.verified) == ("cut", True) and cut.commands  # pushed by the pass


def test_a_router_whose_clock_is_behind_at_the_instant_is_cut_by_the_pass(lab, lab_store):
    """Its clock slipped after it was trusted: at 00:00 its commit has not run, so the pass
    cancels it and cuts with a commit of its own; nothing runs later."""
    order_id = order(lab_store, "Venue R1-1")
    assert arm(lab_store, connect_driver, NIGHT, "scheduler").armed == [1]
    router = lab.router("R1")
    router.clock_offset = -timedelta(minutes=10)  # 23:50 on the router at 00:00
    lab_store.clock.set(NIGHT)
    assert owned(lab) == []
    report = Reconciler(lab_store).run_pass(NIGHT)
    assert report.ok and report.results[0].state_after.value == "cut"
    cut = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))[-1]
    assert cut.action == "cut" and cut.verified
    assert "Pending commit cleared" in cut.output
    assert scheduled_at(lab) is None
    router.clock_offset = timedelta(0)
    lab_store.clock.set(NIGHT + timedelta(minutes=1))
    assert not any("scheduled commit complete" in event for event in router.events)
    assert any("filter input CURFEW-L1" in line for line in owned(lab))


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"clock_offset": timedelta(seconds=5)}, "device clock 5.0 s off (limit 1 s)"),
        ({"ntp_lost": True}, "device not NTP-synchronised"),
        ({"zone": "UTC"}, "device zone UTC+0 at 00:00, venue Asia/Shanghai is UTC+8"),
    ],
    ids=["5s-off", "unsynchronised", "wrong-zone"],
)
def test_an_untrusted_clock_falls_back_to_controller_timing_and_says_why(
    lab, lab_store, fault, reason
):
    order_id = order(lab_store, "Venue R1-1")
    router, fault = lab.router("R1"), dict(fault)  # the parameter is shared by every run
    zone = fault.pop("zone", None)
    if zone:
        router.configure([f"set system time-zone {zone}"])
    for name, value in fault.items():
        setattr(router, name, value)

    report = arm(lab_store, connect_driver, NIGHT, "scheduler")
    assert report.armed == [] and report.fallbacks == {1: reason}
    assert scheduled_at(lab) is None and armed_windows(lab_store) == []
    fallback = lab_store.changes(ChangeFilter(order_id=order_id))[-1]
    assert fallback.action == "timing_fallback" and fallback.detail.endswith(reason)
    assert "stratum=" in fallback.output  # the router's own answer, as evidence

    lab_store.clock.set(NIGHT)
    report = Reconciler(lab_store).run_pass(NIGHT)
    assert report.ok and report.results[0].state_after.value == "cut"
    assert lab_store.changes(ChangeFilter(order_id=order_id))[-1].commands  # pushed


def test_a_commit_someone_else_scheduled_is_never_armed_over_nor_cancelled(lab, lab_store):
    order_id = order(lab_store, "Venue R1-1")
    router = lab.router("R1")
    for line in ("configure", "set system ntp server 192.0.2.124", 'commit at "23:59:00"'):
        router.execute(line)
    assert router.scheduled is not None
    router.scheduled = replace(router.scheduled, by="noc")  # an operator's, not the driver's
    report = arm(lab_store, connect_driver, NIGHT, "scheduler")
    assert report.armed == [] and "is pending; not arming over it" in report.fallbacks[1]
    assert router.scheduled is not None  # still theirs, still scheduled
    record = lab_store.changes(ChangeFilter(order_id=order_id))[-1]
    assert record.action == "arm" and record.verified is False


# -- the window's end on the router's clock: the restore armed apart, once the cut is in force ---

MORNING = NIGHT + timedelta(hours=8)


def cut_on_the_router_s_clock(lab: Lab, store: Store, *venues: str) -> list[int]:
    """Orders on these venues, their cuts armed before 00:00 and verified by the pass at
    00:00; the orders' ids. The store's clock is left at 07:58, the arm lead before 08:00."""
    orders = [order(store, venue) for venue in venues]
    assert len(arm(store, connect_driver, NIGHT, "scheduler").armed) == len(venues)
    store.clock.set(NIGHT)
    report = Reconciler(store).run_pass(NIGHT)
    assert report.ok and {r.state_after.value for r in report.results} == {"cut"}
    store.clock.set(MORNING - timedelta(minutes=2))
    return orders


def test_the_restore_is_armed_once_the_cut_is_in_force_and_the_router_restores_at_0800(
    lab, lab_store
):
    (order_id,) = cut_on_the_router_s_clock(lab, lab_store, "Venue R1-1")
    clock = lab_store.clock
    report = arm(lab_store, connect_driver, MORNING, "scheduler", kind=RESTORE)
    assert (report.kind, report.armed, report.fallbacks) == (RESTORE, [1], {})
    # the router holds the restore in a commit of its own for 08:00; the line is cut still
    assert scheduled_at(lab) == MORNING
    assert any("filter input CURFEW-L1" in line for line in owned(lab))
    rows = {row.kind: row for row in armed_windows(lab_store)}
    assert (rows[RESTORE].line_id, rows[RESTORE].status, rows[RESTORE].window_start) == (
        1, ARMED, MORNING,
    )  # fmt: skip
    armed = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))[-1]
    assert (armed.action, armed.verified, armed.state_after) == ("armed_restore", True, "cut")
    assert "commit at will be executed at 2026-11-25 08:00:00 CST" in armed.output
    assert "a commit scheduled for 2026-11-25 08:00:00" in armed.detail
    assert armed.commands[0].startswith("delete interfaces")  # bindings first, then filters
    assert armed.commands[-1].startswith("delete firewall")
    intent = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("intent",)))[-1]
    assert (intent.action, armed.intent_seq) == ("arm_restore", intent.seq)
    # arming again sends nothing: the schedule restores the line already
    assert arm(lab_store, connect_driver, MORNING, "scheduler", kind=RESTORE).armed == [1]
    again = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))[-1]
    assert (again.action, again.commands) == ("armed_restore", [])

    # a second before, the line is cut and a pass sends nothing
    clock.set(MORNING - timedelta(seconds=1))
    assert any("filter input CURFEW-L1" in line for line in owned(lab))
    assert Reconciler(lab_store).run_pass(clock.now()).batches == []
    clock.set(MORNING)
    assert owned(lab) == []  # no controller pass yet: the router restored on its own clock
    assert scheduled_at(lab) is None

    # the pass at 08:00 finds the line open: verified, nothing sent (a verification, as any
    # restore that found nothing to remove), with the router's word on its own commit
    report = Reconciler(lab_store).run_pass(MORNING)
    assert report.ok and [r.state_after.value for r in report.results] == ["open"]
    restore = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))[-1]
    assert (restore.action, restore.verified, restore.commands) == ("verify", True, [])
    assert restore.state_after == "open" and restore.intent_seq is None
    assert (
        "line 1: found open, nothing sent; the router's latest commit: 2026-11-25 00:00:00 UTC "
        "by curfew via cli (curfew)" in restore.output
    )
    # the cut's row ends at 08:00, the restore's once the router has surely run it: no order
    # keeps the line cut, so nothing more is recorded
    assert disarm_revoked(lab_store, connect_driver, clock.now(), "scheduler").ended == 1
    clock.set(MORNING + RESTORE_SETTLE)
    assert disarm_revoked(lab_store, connect_driver, clock.now(), "scheduler").ended == 1
    assert {row.kind for row in armed_windows(lab_store, (ENDED,))} == {"cut", RESTORE}
    assert lab_store.changes(ChangeFilter(line_id=1))[-1].action == "verify"


def test_a_suspension_before_0800_cancels_the_armed_restore_and_the_other_line_is_armed_again(
    lab, lab_store
):
    """Venue R1-1 is suspended at 07:59: its armed restore is cancelled with the router's
    schedule and its line stays cut past 08:00; line 2's restore is armed again."""
    cut_on_the_router_s_clock(lab, lab_store, "Venue R1-1", "Venue R1-2")
    clock = lab_store.clock
    assert sorted(arm(lab_store, connect_driver, MORNING, "scheduler", kind=RESTORE).armed) == [
        1, 2,
    ]  # fmt: skip
    clock.set(MORNING - timedelta(minutes=1, seconds=30))
    suspension = disconnect(lab_store, "Venue R1-1", "suspension", "临兰文执发〔2018〕5号")
    report = disarm_revoked(lab_store, connect_driver, clock.now(), "scheduler")
    assert report.disarmed == [1] and report.failed == {} and report.rearmed == [2]
    assert scheduled_at(lab) == MORNING  # line 2's restore scheduled again, alone
    cancelled = lab_store.changes(ChangeFilter(line_id=1, kinds=("outcome",)))[-1]
    assert (cancelled.action, cancelled.verified, cancelled.state_after) == (
        "disarmed_restore", True, "cut",
    )  # fmt: skip
    assert cancelled.commands[0] == "clear system commit"
    assert cancelled.order_ids == [suspension]  # the order that keeps it cut
    assert armed_windows(lab_store, (DISARMED,))[0].line_id == 1
    assert lab_store.snapshot().states[1].state == "cut"

    clock.set(MORNING)
    config = " ".join(owned(lab))
    assert "filter input CURFEW-L1" in config  # still cut, as the suspension orders
    assert "CURFEW-L2" not in config  # restored by the router
    report = Reconciler(lab_store).run_pass(MORNING)
    assert report.ok and [r.change.line_id for r in report.results] == [2]
    assert "filter input CURFEW-L1" in " ".join(owned(lab))


def test_a_pass_before_0800_that_cancels_the_restore_is_followed_by_arming_again(lab, lab_store):
    """A new order cuts the router's other venue at 07:58:30: the pass's commit cancels the
    scheduled restore, which is armed again after it."""
    (curfew,) = cut_on_the_router_s_clock(lab, lab_store, "Venue R1-1")
    clock = lab_store.clock
    assert arm(lab_store, connect_driver, MORNING, "scheduler", kind=RESTORE).armed == [1]
    clock.set(MORNING - timedelta(minutes=1, seconds=30))
    again, _ = cancelled_by_a_pass_and_armed_again(lab, lab_store)
    assert (again.kind, again.armed) == (RESTORE, [1]) and scheduled_at(lab) == MORNING
    armed = lab_store.changes(ChangeFilter(order_id=curfew, kinds=("outcome",)))[-1]
    assert armed.action == "armed_restore" and armed.verified

    clock.set(MORNING)
    config = " ".join(owned(lab))
    assert "CURFEW-L1" not in config and "filter input CURFEW-L2" in config


def test_an_untrusted_clock_at_0800_leaves_the_restore_to_the_pass_which_says_why(lab, lab_store):
    (order_id,) = cut_on_the_router_s_clock(lab, lab_store, "Venue R1-1")
    router = lab.router("R1")
    router.clock_offset = timedelta(seconds=5)
    report = arm(lab_store, connect_driver, MORNING, "scheduler", kind=RESTORE)
    assert report.armed == [] and report.fallbacks == {1: "device clock 5.0 s off (limit 1 s)"}
    assert scheduled_at(lab) is None
    fallback = lab_store.changes(ChangeFilter(order_id=order_id))[-1]
    assert fallback.action == "timing_fallback"
    assert fallback.detail.startswith("controller timing for the restore due at ")
    router.clock_offset = timedelta(0)
    lab_store.clock.set(MORNING)
    assert any("filter input CURFEW-L1" in line for line in owned(lab))  # nothing ran
    assert Reconciler(lab_store).run_pass(MORNING).ok
    restore = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))[-1]
    assert (restore.action, restore.verified) == ("restore", True) and restore.commands
    assert owned(lab) == []


def test_no_restore_is_armed_for_a_line_not_cut_nor_over_the_cuts_schedule(lab, lab_store):
    """Before 00:00 the line is not cut: there is nothing to restore on the router's clock;
    a line the router does not cut as recorded (drift) is refused by the driver."""
    order(lab_store, "Venue R1-1")
    assert arm(lab_store, connect_driver, NIGHT, "scheduler").armed == [1]
    # the recorded state is open: no restore window, nothing read, the cut's schedule stands
    report = arm(lab_store, connect_driver, MORNING, "scheduler", kind=RESTORE)
    assert report.armed == [] and report.fallbacks == {}
    assert scheduled_at(lab) == NIGHT
    snap = lab_store.snapshot()
    with connect_driver(snap.devices[1], 10.0) as driver:
        zone = driver.read_clock().zone
        busy = driver.arm_restore([snap.targets[1]], MORNING, zone)
        assert "not arming a restore over it" in str(busy.error) and not busy.lines[0].done
        lab_store.clock.set(NIGHT + timedelta(hours=1))  # the cut's commit has run
        driver.apply(Batch(restores=(snap.targets[1],)))  # drift: opened behind the record
        refused = driver.arm_restore([snap.targets[1]], MORNING, zone)
    assert "is not cut as its target says" in (refused.lines[0].error or "")
    assert scheduled_at(lab) is None


def test_the_scheduler_s_arming_before_0800_arms_the_restores(lab, lab_store):
    """What the scheduler calls a lead before each transition: at 07:58 no cut starts, and
    the restores due at 08:00 are armed."""
    cut_on_the_router_s_clock(lab, lab_store, "Venue R1-1", "Venue R1-2")
    cuts, restores = arm_before(Reconciler(lab_store), MORNING)
    assert (cuts.kind, cuts.armed) == ("cut", [])  # none start at 08:00
    assert (restores.kind, sorted(restores.armed)) == (RESTORE, [1, 2])
    assert scheduled_at(lab) == MORNING
    rows = [row for row in armed_windows(lab_store) if row.kind == RESTORE]
    assert sorted(row.line_id for row in rows) == [1, 2]


def test_curfew_plan_shows_what_the_routers_will_do_on_their_own_clocks(lab, lab_store):
    """The NOC's view of tonight (`curfew plan`): the armed restores still to come, with the
    orders behind them; none once their instant has passed."""
    (order_id,) = cut_on_the_router_s_clock(lab, lab_store, "Venue R1-1")
    clock = lab_store.clock
    assert arm(lab_store, connect_driver, MORNING, "scheduler", kind=RESTORE).armed == [1]
    report = Reconciler(lab_store).run_pass(clock.now(), dry_run=True)
    line = next(ln.name for ln in lab_store.lines() if ln.id == 1)
    (armed,) = pass_json(lab_store, report)["armed"]
    assert (armed["device"], armed["venue"], armed["armed"], armed["orders"]) == (
        "R1", "Venue R1-1", RESTORE, str(order_id),
    )  # fmt: skip
    assert armed["at"] == MORNING.astimezone(UTC).isoformat()
    assert armed["line"] == line
    shown = describe_pass(lab_store, report)
    assert "armed on the routers' own clocks (device timing):" in shown
    assert "Venue R1-1  restore" in shown
    clock.set(MORNING)
    after = Reconciler(lab_store).run_pass(clock.now(), dry_run=True)
    assert pass_json(lab_store, after)["armed"] == []
    assert "armed on the routers' own clocks" not in describe_pass(lab_store, after)


def test_metrics_count_the_lines_armed_on_the_routers_own_clocks(lab, lab_store):
    """/metrics' `curfew_lines_armed`: the armed restores still to come, by router and kind;
    none once their instant has passed."""
    cut_on_the_router_s_clock(lab, lab_store, "Venue R1-1", "Venue R1-2")
    settings = Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN)
    client = TestClient(create_app(settings, lab_store))  # no scheduler: no pass runs
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def metrics() -> str:
        answer = client.get("/metrics", headers=admin)
        assert answer.status_code == 200, answer.text
        assert "curfew_store_up 1.0" in answer.text
        return answer.text

    with client:
        assert sample(metrics(), "curfew_lines_armed", device="R1") is None
        assert sorted(arm(lab_store, connect_driver, MORNING, "scheduler", kind=RESTORE).armed) == [
            1, 2,
        ]  # fmt: skip
        text = metrics()
        assert sample(text, "curfew_lines_armed", device="R1", kind=RESTORE) == 2
        assert sample(text, "curfew_lines_armed", kind="cut") is None  # the cuts have run
        lab_store.clock.set(MORNING)
        assert sample(metrics(), "curfew_lines_armed") is None


def test_a_restore_an_order_came_too_late_to_cancel_is_read_and_the_line_cut_again(lab, lab_store):
    """A suspension comes at 07:59:59, too late for a pass to cancel the armed restore: the
    router opens the line at 08:00 by its own clock. Once it has surely run (RESTORE_SETTLE),
    the line is recorded unknown, citing the suspension, and the next pass cuts it again."""
    cut_on_the_router_s_clock(lab, lab_store, "Venue R1-1")
    clock = lab_store.clock
    assert arm(lab_store, connect_driver, MORNING, "scheduler", kind=RESTORE).armed == [1]
    clock.set(MORNING - timedelta(seconds=1))
    suspension = disconnect(lab_store, "Venue R1-1", "suspension", "临兰文执发〔2018〕5号")
    clock.set(MORNING)
    assert owned(lab) == []  # the router restored on its own clock
    # the store still says cut, and the plan too: a pass alone would change nothing
    assert Reconciler(lab_store).run_pass(clock.now(), dry_run=True).batches == []

    # within the settle the restore is neither cancelled (too late) nor ended
    report = disarm_revoked(lab_store, connect_driver, clock.now(), "scheduler")
    assert report.ended == 1 and report.disarmed == [] and report.failed == {}  # the cut's row
    assert [row.kind for row in armed_windows(lab_store)] == [RESTORE]
    clock.set(MORNING + RESTORE_SETTLE)
    assert disarm_revoked(lab_store, connect_driver, clock.now(), "scheduler").ended == 1
    ran = lab_store.changes(ChangeFilter(line_id=1))[-1]
    assert (ran.action, ran.state_after, ran.order_ids) == ("restore_ran", "unknown", [suspension])
    assert lab_store.snapshot().states[1].state == "unknown"

    report = Reconciler(lab_store).run_pass(clock.now())
    assert report.ok and [r.state_after.value for r in report.results] == ["cut"]
    cut = lab_store.changes(ChangeFilter(line_id=1, kinds=("outcome",)))[-1]
    assert (cut.action, cut.verified, cut.order_ids) == ("cut", True, [suspension])
    assert cut.commands  # pushed: the router had opened it
    assert any("filter input CURFEW-L1" in line for line in owned(lab))

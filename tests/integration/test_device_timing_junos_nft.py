"""Device-timed windows on Linux nftables, against the twin over real SSH, on a real store, in
simulated time.

The twin's ruleset is the kernel's (a real namespace): the driver's `meta time` rules are
loaded, listed and deleted by the real nft. The kernel compares `meta time` with the host's
real clock, which a test cannot move; so here the twin's shell shows the store's
SimulatedClock as the router's clock (`date`), and the driver judges in force or dormant from
that reading and the rules' bounds, as it does on a real router from the kernel's own clock.
That the kernel enforces exactly those bounds is shown with real packets at real time in
tests/drivers/test_junos_nft_timing.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controller.clock import SimulatedClock
from controller.device_timing import (
    ARMED,
    DISARMED,
    ENDED,
    RESTORE_SETTLE,
    arm,
    armed_windows,
    disarm_revoked,
)
from controller.inventory import import_document
from controller.orders import revoke_order, suspend_order
from controller.reconciler import Reconciler, connect_driver
from controller.store import ChangeFilter, Store
from lab.netns import unavailable
from lab.topology import Lab, city
from tests.conftest import SQLITE_ONLY
from tests.integration.device_timing_support import (
    BERLIN,
    NIGHT,
    opt_in,
    order,
    scheduler_through_midnight,
    two_router_city,
)
from tests.integration.device_timing_support import owned as owned_lines

pytestmark = [pytest.mark.lab, SQLITE_ONLY]


START, END = int(NIGHT.timestamp()), int((NIGHT + timedelta(hours=8)).timestamp())


@pytest.fixture
def lab():
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    with two_router_city(("linux_nftables",)) as running:
        yield running


@pytest.fixture
def lab_store(store: Store, lab: Lab) -> Store:
    """R1 opted in to device timing, its shell's clock the store's; R2 not."""
    import_document(store, opt_in(lab.inventory(lab.city_inventory), "R1"), "lab city")
    assert isinstance(store.clock, SimulatedClock)
    lab.router("R1").clock = store.clock.now
    store.clock.set(NIGHT - timedelta(minutes=2))  # 23:58
    assert Reconciler(store).run_pass(store.clock.now()).ok  # every line read once: open
    return store


def owned(lab: Lab, device: str = "R1") -> list[str]:
    """The owned rules as the kernel holds them (`nft list ruleset` in the twin's namespace)."""
    return owned_lines(lab, device, "CURFEW-L")


def state(lab_store: Store, line_id: int = 1) -> str:
    device = next(d for d in lab_store.snapshot().devices.values() if d.name == "R1")
    target = lab_store.snapshot().targets[line_id]
    with connect_driver(device, 5.0) as driver:
        return driver.read()[line_id].state_for(target).value


def test_armed_at_2358_the_rules_wait_for_midnight_and_the_pass_records_it_verified(lab, lab_store):
    order_id = order(lab_store, "Venue R1-1")
    clock = lab_store.clock
    report = arm(lab_store, connect_driver, NIGHT, "scheduler")
    assert report.armed == [1] and report.fallbacks == {}
    rules = owned(lab)
    # four drops (v4 and v6, in and out), each bounded by tonight's window in UTC: 16:00-00:00
    assert len(rules) == 4
    assert all(
        'meta time >= "2026-11-24 16:00:00" meta time < "2026-11-25 00:00:00"' in rule
        and 'comment "CURFEW-L1"' in rule
        for rule in rules
    )
    assert any(r.startswith('iifname "eth1" ip saddr 198.18.1.0/24 meta time') for r in rules)
    (row,) = armed_windows(lab_store)
    assert (row.line_id, row.status, row.window_start, row.window_end) == (
        1, ARMED, NIGHT, NIGHT + timedelta(hours=8),
    )  # fmt: skip
    armed = [c for c in lab_store.changes(ChangeFilter(order_id=order_id)) if c.action == "armed"]
    assert len(armed) == 1 and armed[0].verified and armed[0].state_after == "open"
    assert f"meta time >= {START} meta time < {END} counter drop" in armed[0].commands[-1]
    assert "rules bounded in UTC" in armed[0].detail and "time-range" not in armed[0].detail
    assert "NTP-synchronised; the window in UTC (the device's zone not used)" in armed[0].detail

    # armed is dormant: open until the router's clock reads 00:00:00, cut from then on
    clock.set(NIGHT - timedelta(seconds=1))
    assert state(lab_store) == "open"
    assert Reconciler(lab_store).run_pass(clock.now()).batches == []
    clock.set(NIGHT)
    assert state(lab_store) == "cut"

    # the pass at 00:00 finds the line cut: a verified cut, no command sent, the evidence kept
    report = Reconciler(lab_store).run_pass(NIGHT)
    assert report.ok and [r.state_after.value for r in report.results] == ["cut"]
    cut = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))[-1]
    assert (cut.action, cut.verified, cut.state_after, cut.commands) == ("cut", True, "cut", [])
    assert "line 1: cut by the device's clock, 4 rules in force from 2026-11-24T16:00:00" in (
        cut.output
    )
    assert "device clock 2026-11-24T16:00:00+00:00" in cut.output
    assert "counter packets 0 bytes 0 drop" in cut.output  # the rules as nft lists them

    # 08:00: the window is over on the router's clock; the ordinary restore deletes every rule
    clock.set(NIGHT + timedelta(hours=8))
    assert state(lab_store) == "open"
    assert Reconciler(lab_store).run_pass(clock.now()).ok
    restore = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))[-1]
    assert restore.action == "restore" and restore.verified and restore.state_after == "open"
    assert all(c.startswith("delete ") for c in restore.commands)
    assert owned(lab) == [] and "table inet curfew" not in lab.router("R1").running_config()
    clock.set(clock.now() + RESTORE_SETTLE)  # the row settles once the window surely ended
    assert disarm_revoked(lab_store, connect_driver, clock.now(), "scheduler").ended == 1
    assert armed_windows(lab_store, (ENDED,))[0].line_id == 1


@pytest.mark.parametrize("end_it", [revoke_order, suspend_order], ids=["revoked", "suspended"])
def test_a_revocation_at_2359_disarms_and_the_line_is_never_cut(lab, lab_store, end_it):
    order_id = order(lab_store, "Venue R1-1")
    clock = lab_store.clock
    assert arm(lab_store, connect_driver, NIGHT, "scheduler").armed == [1]
    clock.set(NIGHT - timedelta(minutes=1))
    end_it(lab_store, order_id, "licence restored", "bureau:test")
    report = disarm_revoked(lab_store, connect_driver, clock.now(), "scheduler")
    assert report.disarmed == [1] and report.failed == {}
    assert owned(lab) == []

    clock.set(NIGHT)
    assert Reconciler(lab_store).run_pass(NIGHT).batches == []
    log = lab_store.changes(ChangeFilter(line_id=1, kinds=("intent", "outcome")))
    assert [(c.kind, c.action) for c in log][-2:] == [("intent", "disarm"), ("outcome", "disarmed")]
    disarmed = log[-1]
    assert disarmed.verified and disarmed.order_ids == [order_id]
    # every rule deleted whole, by handle, in one transaction; the emptied table with them
    assert len(disarmed.commands) == 4
    assert all(c.startswith("delete rule inet curfew forward handle ") for c in disarmed.commands)
    assert "table inet curfew" not in lab.router("R1").running_config()
    assert armed_windows(lab_store, (DISARMED,))[0].line_id == 1


def test_a_router_that_does_not_cut_at_the_instant_is_cut_by_the_pass(lab, lab_store):
    """Its clock slipped after it was trusted: at 00:00 its rules still wait, so the ordinary
    pass deletes them and loads plain drops in the same transaction."""
    order_id = order(lab_store, "Venue R1-1")
    assert arm(lab_store, connect_driver, NIGHT, "scheduler").armed == [1]
    lab.router("R1").clock_offset = -timedelta(minutes=10)  # 23:50 on the router at 00:00
    lab_store.clock.set(NIGHT)
    assert state(lab_store) == "open"
    report = Reconciler(lab_store).run_pass(NIGHT)
    assert report.ok and report.results[0].state_after.value == "cut"
    cut = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))[-1]
    assert cut.action == "cut" and cut.verified
    deletes = [i for i, c in enumerate(cut.commands) if c.startswith("delete rule")]
    adds = [i for i, c in enumerate(cut.commands) if c.startswith("add rule")]
    assert len(deletes) == 4 and len(adds) == 4 and max(deletes) < min(adds)
    rules = owned(lab)
    assert len(rules) == 4 and not any("meta time" in rule for rule in rules)

    lab_store.clock.set(NIGHT + timedelta(hours=8))
    assert Reconciler(lab_store).run_pass(lab_store.clock.now()).ok
    assert owned(lab) == []


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"clock_offset": timedelta(seconds=5)}, "device clock 5.0 s off (limit 1 s)"),
        ({"ntp_lost": True}, "device not NTP-synchronised"),
    ],
    ids=["5s-off", "unsynchronised"],
)
def test_an_untrusted_clock_falls_back_to_controller_timing_and_says_why(
    lab, lab_store, fault, reason
):
    order_id = order(lab_store, "Venue R1-1")
    router = lab.router("R1")
    for name, value in dict(fault).items():
        setattr(router, name, value)

    report = arm(lab_store, connect_driver, NIGHT, "scheduler")
    assert report.armed == [] and report.fallbacks == {1: reason}
    assert owned(lab) == [] and armed_windows(lab_store) == []
    fallback = lab_store.changes(ChangeFilter(order_id=order_id))[-1]
    assert fallback.action == "timing_fallback" and fallback.line_id == 1
    assert fallback.detail.endswith(reason)
    assert ",Normal" in fallback.output or ",Not synchronised" in fallback.output  # evidence

    # the controller cuts at 00:00 itself, as without device timing
    lab_store.clock.set(NIGHT)
    report = Reconciler(lab_store).run_pass(NIGHT)
    assert report.ok and report.results[0].state_after.value == "cut"
    cut = lab_store.changes(ChangeFilter(order_id=order_id))[-1]
    assert cut.commands and not any("meta time" in c for c in cut.commands)


def test_the_router_zone_plays_no_part_on_a_dst_night(tmp_path):
    """Europe/Berlin's spring night is 7 hours of UTC: the rules carry exactly those UTC
    bounds, whatever zone the router's own userland is in."""
    berlin_night = datetime(2026, 3, 29, tzinfo=BERLIN)
    start = berlin_night.astimezone(UTC)
    specs, inventory = city(
        devices=1, lines_per_device=1, zone="Europe/Berlin", platforms=("linux_nftables",)
    )
    clock = SimulatedClock(start - timedelta(minutes=2))
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    with Lab(specs) as lab:
        store = Store.open(f"sqlite:///{tmp_path / 'curfew.db'}", clock=clock)
        try:
            import_document(store, opt_in(lab.inventory(inventory), "R1"), "berlin")
            lab.router("R1").clock = clock.now
            order(store, "Venue R1-1", berlin_night)
            report = arm(store, connect_driver, start, "scheduler")
            assert report.armed == [1], report.fallbacks
            (row,) = armed_windows(store)
            assert row.window_end - row.window_start == timedelta(hours=7)
            assert all(
                'meta time >= "2026-03-28 23:00:00" meta time < "2026-03-29 06:00:00"' in rule
                for rule in owned(lab)
            )
            clock.set(start + timedelta(hours=7) - timedelta(seconds=1))  # 07:59:59 CEST
            assert state(store) == "cut"
            clock.set(start + timedelta(hours=7))  # 08:00 CEST
            assert state(store) == "open"
        finally:
            store.close()


def test_the_scheduler_arms_with_its_prepare_and_the_transition_pass_verifies(lab, lab_store):
    """`curfew serve`'s scheduler on a clock at the real pace from 23:59:57 (R1's shell shows
    it too), a prepare lead of 2 s: R1's line is armed before 00:00 and verified by the
    transition pass without a command; R2 (not opted in) is cut by the pass."""
    order_id = order(lab_store, "Venue R1-1")
    order(lab_store, "Venue R2-1")
    midnight = scheduler_through_midnight(lab, lab_store)
    (row,) = armed_windows(lab_store)
    assert row.line_id == 1 and row.status == ARMED
    assert midnight.ok and midnight.at >= NIGHT
    by_line = {r.change.line_id: r for r in midnight.results}
    assert by_line[1].state_after.value == "cut" and by_line[2].state_after.value == "cut"
    cut = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))[-1]
    assert (cut.action, cut.commands) == ("cut", [])
    assert "line 1: cut by the device's clock" in cut.output


def test_a_router_whose_nft_refuses_meta_time_is_left_to_the_controller(lab, lab_store):
    """An old kernel refuses `meta time` (the reject fault answers as nft does for EINVAL):
    nothing is loaded, arming fails with nft's words, and the pass at 00:00 cuts."""
    order_id = order(lab_store, "Venue R1-1")
    lab.set_fault("R1", reject=(r"meta time",))
    report = arm(lab_store, connect_driver, NIGHT, "scheduler")
    assert report.armed == [] and "Could not process rule" in report.fallbacks[1]
    assert owned(lab) == []
    failed = [c for c in lab_store.changes(ChangeFilter(order_id=order_id)) if c.action == "arm"]
    assert failed[-1].kind == "outcome" and failed[-1].verified is False
    assert "arming failed, controller timing" in failed[-1].detail
    assert "its armed objects may remain" not in failed[-1].detail  # cleaned: none there

    lab_store.clock.set(NIGHT)
    report = Reconciler(lab_store).run_pass(NIGHT)
    assert report.ok and report.results[0].state_after.value == "cut"
    rules = owned(lab)
    assert len(rules) == 4 and not any("meta time" in rule for rule in rules)

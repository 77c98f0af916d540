"""Device-timed windows against the VRP and Comware twins over real SSH, on a real store, in
simulated time: the twin cuts at 00:00 by its own evaluation of its time-range, before any
controller pass (the IOS counterpart is tests/integration/test_device_timing.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

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
from controller.prepare import Preparer
from controller.reconciler import Reconciler, connect_driver
from controller.store import ChangeFilter, Store
from lab.topology import Lab, city
from tests.conftest import SQLITE_ONLY
from tests.integration.device_timing_support import (
    NIGHT,
    OUTSIDE,
    SPRING,
    opt_in,
    opt_out,
    order,
    owned,
    read_state,
    scheduler_through_midnight,
    two_router_city,
    venue_host,
)

pytestmark = [pytest.mark.lab, SQLITE_ONLY]


@dataclass(frozen=True)
class Platform:
    """What differs between the platforms in these tests: their words."""

    name: str
    interface: str
    # how the zone is set (VRP: in the user view; Comware: in the system view)
    china: tuple[str, ...]
    utc: tuple[str, ...]
    berlin: tuple[str, ...]
    deny: str  # the first deny rule of line 1, armed
    time_range: tuple[str, ...]  # its time-range's lines in the running config, tonight
    berlin_range: str  # the DST night's, in the running config
    acl_deletion: tuple[str, ...]
    range_deletion: str
    acl_creation: str
    counter: str  # what the device's display of the ACL shows after one match
    ntp_mark: str  # a word of the NTP answer, kept as evidence of a fallback
    clock_command: str
    clock_in_user_view: bool  # VRP sets its zone in the user view, Comware in the system view


VRP = Platform(
    name="huawei_vrp",
    interface="GigabitEthernet0/0/1",
    china=("clock timezone CST add 08:00:00",),
    utc=("clock timezone UTC add 00:00:00",),
    berlin=(
        "clock timezone CET add 01:00:00",
        "clock daylight-saving-time CEST repeating 02:00 last Sun Mar 03:00 last Sun Oct 01:00",
    ),
    deny="rule 5 deny ip source 198.18.1.0 0.0.0.255 time-range CURFEW-TR-1",
    time_range=("time-range CURFEW-TR-1 from 00:00 2026/11/25 to 08:00 2026/11/25",),
    berlin_range="time-range CURFEW-TR-1 from 00:00 2026/3/29 to 08:00 2026/3/29",
    acl_deletion=("undo acl name CURFEW-L1", "undo acl ipv6 name CURFEW6-L1"),
    range_deletion="undo time-range CURFEW-TR-1",
    acl_creation="acl name CURFEW-L1 advance",
    counter="time-range CURFEW-TR-1 (Active) (1 matches)",
    ntp_mark="clock status:",
    clock_command="display clock",
    clock_in_user_view=True,
)
COMWARE = Platform(
    name="h3c_comware",
    interface="GigabitEthernet1/0/1",
    china=("clock timezone CST add 08:00:00",),
    utc=("clock timezone UTC add 00:00:00",),
    berlin=(
        "clock timezone CET add 01:00:00",
        "clock summer-time CEST 02:00:00 March last Sunday 03:00:00 October last Sunday 01:00:00",
    ),
    deny="rule 5 deny ip source 198.18.1.0 0.0.0.255 time-range CURFEW-TR-1",
    time_range=("time-range CURFEW-TR-1 from 00:00 11/25/2026 to 08:00 11/25/2026",),
    berlin_range="time-range CURFEW-TR-1 from 00:00 3/29/2026 to 08:00 3/29/2026",
    acl_deletion=("undo acl advanced name CURFEW-L1", "undo acl ipv6 advanced name CURFEW6-L1"),
    range_deletion="undo time-range CURFEW-TR-1",
    acl_creation="acl advanced name CURFEW-L1",
    counter="time-range CURFEW-TR-1 (Active) (1 times matched)",
    ntp_mark="Clock status:",
    clock_command="display clock",
    clock_in_user_view=False,
)
PLATFORMS = [VRP, COMWARE]


def _zone(lab: Lab, platform: Platform, lines: tuple[str, ...]) -> None:
    """Set the twin's zone as an operator would: VRP's `clock` commands are user-view ones."""
    router = lab.router("R1")
    if not platform.clock_in_user_view:
        router.configure(list(lines))
        return
    for line in lines:
        reply = router.execute(line)
        assert "Error" not in reply.output, reply.output


@pytest.fixture(params=PLATFORMS, ids=lambda p: p.name)
def platform(request: pytest.FixtureRequest) -> Platform:
    return request.param


@pytest.fixture
def lab(platform: Platform):
    with two_router_city((platform.name,)) as running:
        yield running


@pytest.fixture
def lab_store(tmp_path, lab: Lab, platform: Platform):
    """R1 opted in to device timing, its clock the store's, in China Standard Time; R2 not."""
    clock = SimulatedClock(NIGHT - timedelta(minutes=2))  # 23:58
    store = Store.open(f"sqlite:///{tmp_path / 'curfew.db'}", clock=clock)
    try:
        import_document(store, opt_in(lab.inventory(lab.city_inventory), "R1"), "lab city")
        lab.router("R1").clock = clock.now
        _zone(lab, platform, platform.china)
        assert Reconciler(store).run_pass(clock.now()).ok  # every line read once: open
        yield store
    finally:
        store.close()


def passes(lab: Lab, store: Store, platform: Platform, device: str = "R1") -> bool:
    """Whether the twin lets the venue's traffic out now, by its own clock and rules."""
    return lab.router(device).permits(platform.interface, "in", venue_host(store), OUTSIDE)


def test_armed_at_2358_the_twin_cuts_at_midnight_and_the_pass_records_it_verified(
    lab, lab_store, platform
):
    order_id = order(lab_store, "Venue R1-1")
    clock = lab_store.clock
    report = arm(lab_store, connect_driver, NIGHT, "scheduler")
    assert report.armed == [1] and report.fallbacks == {}
    config = owned(lab)
    # every deny waits on the line's time-range, which holds tonight's window in CST
    assert platform.deny in config
    for line in platform.time_range:
        assert line in config
    (row,) = armed_windows(lab_store)
    assert (row.line_id, row.status, row.window_start, row.window_end) == (
        1, ARMED, NIGHT, NIGHT + timedelta(hours=8),
    )  # fmt: skip
    armed = [c for c in lab_store.changes(ChangeFilter(order_id=order_id)) if c.action == "armed"]
    assert len(armed) == 1 and armed[0].verified and armed[0].state_after == "open"
    commands = armed[0].commands
    assert commands.index(f"time-range CURFEW-TR-1 {platform.time_range[0].split(' ', 2)[2]}") < (
        commands.index(platform.acl_creation)
    )

    # armed is open: the twin lets the venue through until its own clock reads 00:00:00
    clock.set(NIGHT - timedelta(seconds=1))
    assert passes(lab, lab_store, platform)
    assert Reconciler(lab_store).run_pass(clock.now()).batches == []
    clock.set(NIGHT)
    assert not passes(lab, lab_store, platform)  # no controller pass yet: the device cut

    # the pass at 00:00 finds the line cut: a verified cut, no command sent, the evidence kept
    report = Reconciler(lab_store).run_pass(NIGHT)
    assert report.ok and [r.state_after.value for r in report.results] == ["cut"]
    cut = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))[-1]
    assert (cut.action, cut.verified, cut.state_after, cut.commands) == ("cut", True, "cut", [])
    assert "time-range CURFEW-TR-1 active" in cut.output
    assert platform.counter in cut.output  # the twin's own counter of the match above

    # 08:00: the ordinary restore removes the ACLs before their time-range, leaves nothing
    clock.set(NIGHT + timedelta(hours=8))
    assert passes(lab, lab_store, platform)  # the window is over on the device's clock too
    assert Reconciler(lab_store).run_pass(clock.now()).ok
    restore = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))[-1]
    assert restore.action == "restore" and restore.verified and restore.state_after == "open"
    for deletion in platform.acl_deletion:
        assert restore.commands.index(deletion) < restore.commands.index(platform.range_deletion)
    assert owned(lab) == []
    clock.set(clock.now() + RESTORE_SETTLE)  # the row settles once the window surely ended
    assert disarm_revoked(lab_store, connect_driver, clock.now(), "scheduler").ended == 1
    assert armed_windows(lab_store, (ENDED,))[0].line_id == 1


@pytest.mark.parametrize("behind", [timedelta(0), timedelta(seconds=2)], ids=["on-time", "behind"])
def test_a_prepared_restore_the_router_s_clock_made_sends_nothing_at_0800(
    lab, lab_store, platform, behind
):
    """At 08:00 by its own clock the router's time-range has ended the cut: the prepared pass
    reads its wall clock with its objects, sends nothing and records the restore verified with
    that evidence; the objects go after the last router, the ACLs before their time-range.
    A router whose clock is 2 s behind still holds the cut at the controller's 08:00: it is
    unbound at the instant, as any cut."""
    order_id = order(lab_store, "Venue R1-1")
    assert arm(lab_store, connect_driver, NIGHT, "scheduler").armed == [1]
    lab_store.clock.set(NIGHT)
    assert [r.state_after.value for r in Reconciler(lab_store).run_pass(NIGHT).results] == ["cut"]
    morning = NIGHT + timedelta(hours=8)
    reconciler = Reconciler(lab_store)
    lab_store.clock.set(morning - timedelta(minutes=2))
    prepared = Preparer(reconciler).prepare(morning)
    lab.router("R1").clock_offset = -behind
    lab_store.clock.set(morning)
    assert passes(lab, lab_store, platform) is (not behind)
    report = reconciler.run_pass(morning, prepared=prepared)
    assert report.ok and report.bound_prepared == ["R1"], report.failures
    assert [(r.state_after.value, r.verified) for r in report.results] == [("open", True)]
    outcomes = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))
    restore = next(c for c in outcomes if c.at >= morning and c.action != "unstaged")
    (unstaged,) = [c for c in outcomes if c.action == "unstaged"]
    if behind:
        assert restore.action == "restore" and restore.commands
        assert "found open, nothing sent" not in restore.output
    else:
        assert (restore.action, restore.commands, restore.intent_seq) == ("verify", [], None)
        assert "line 1: found open, nothing sent; time-range CURFEW-TR-1 not in force" in (
            restore.output
        )
        assert "the window is over by the device's clock" in restore.output
    for deletion in platform.acl_deletion:
        assert unstaged.commands.index(deletion) < unstaged.commands.index(platform.range_deletion)
    assert unstaged.verified and owned(lab) == [] and passes(lab, lab_store, platform)


@pytest.mark.parametrize("end_it", [revoke_order, suspend_order], ids=["revoked", "suspended"])
def test_a_revocation_at_2359_disarms_and_the_line_is_never_cut(lab, lab_store, platform, end_it):
    order_id = order(lab_store, "Venue R1-1")
    clock = lab_store.clock
    assert arm(lab_store, connect_driver, NIGHT, "scheduler").armed == [1]
    clock.set(NIGHT - timedelta(minutes=1))
    end_it(lab_store, order_id, "licence restored", "bureau:test")
    report = disarm_revoked(lab_store, connect_driver, clock.now(), "scheduler")
    assert report.disarmed == [1] and report.failed == {}
    assert owned(lab) == []

    clock.set(NIGHT)
    assert passes(lab, lab_store, platform)  # never cut
    assert Reconciler(lab_store).run_pass(NIGHT).batches == []
    log = lab_store.changes(ChangeFilter(line_id=1, kinds=("intent", "outcome")))
    assert [(c.kind, c.action) for c in log][-2:] == [("intent", "disarm"), ("outcome", "disarmed")]
    disarmed = log[-1]
    assert disarmed.verified and disarmed.order_ids == [order_id]
    for deletion in platform.acl_deletion:
        assert disarmed.commands.index(deletion) < disarmed.commands.index(platform.range_deletion)
    assert armed_windows(lab_store, (DISARMED,))[0].line_id == 1


def test_a_device_that_does_not_cut_at_the_instant_is_cut_by_the_pass(lab, lab_store, platform):
    """Its clock slipped after it was trusted: at 00:00 the armed line still lets the venue
    through, so the ordinary pass removes the armed objects and pushes a plain cut."""
    order_id = order(lab_store, "Venue R1-1")
    assert arm(lab_store, connect_driver, NIGHT, "scheduler").armed == [1]
    lab.router("R1").clock_offset = -timedelta(minutes=10)  # 23:50 on the router at 00:00
    lab_store.clock.set(NIGHT)
    assert passes(lab, lab_store, platform)
    report = Reconciler(lab_store).run_pass(NIGHT)
    assert report.ok and report.results[0].state_after.value == "cut"
    assert not passes(lab, lab_store, platform)
    cut = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))[-1]
    assert cut.action == "cut" and cut.verified
    commands = cut.commands
    assert (
        commands.index(platform.acl_deletion[0])
        < commands.index(platform.range_deletion)
        < commands.index(platform.acl_creation)
    )
    assert not any("time-range" in line for line in owned(lab))

    lab_store.clock.set(NIGHT + timedelta(hours=8))
    assert Reconciler(lab_store).run_pass(lab_store.clock.now()).ok
    assert owned(lab) == [] and passes(lab, lab_store, platform)


def test_a_router_opted_out_after_arming_is_still_read_right(lab, lab_store):
    """Its reads no longer ask for time-ranges up front; an owned rule naming one makes the
    driver ask, so an armed line still reads open before its window and cut in it."""
    order(lab_store, "Venue R1-1")
    assert arm(lab_store, connect_driver, NIGHT, "scheduler").armed == [1]
    device = opt_out(lab_store)
    for instant, state in ((NIGHT - timedelta(seconds=1), "open"), (NIGHT, "cut")):
        lab_store.clock.set(instant)
        assert read_state(lab_store, device) == state


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"clock_offset": timedelta(seconds=5)}, "device clock 5.0 s off (limit 1 s)"),
        ({"ntp_lost": True}, "device not NTP-synchronised"),
        ({"zone": "utc"}, "device zone UTC+0 at 00:00, venue Asia/Shanghai is UTC+8"),
    ],
    ids=["5s-off", "unsynchronised", "wrong-zone"],
)
def test_an_untrusted_clock_falls_back_to_controller_timing_and_says_why(
    lab, lab_store, platform, fault, reason
):
    order_id = order(lab_store, "Venue R1-1")
    router, fault = lab.router("R1"), dict(fault)  # the parameter is shared by every run
    if fault.pop("zone", None):
        _zone(lab, platform, platform.utc)
    for name, value in fault.items():
        setattr(router, name, value)

    report = arm(lab_store, connect_driver, NIGHT, "scheduler")
    assert report.armed == [] and report.fallbacks == {1: reason}
    assert owned(lab) == [] and armed_windows(lab_store) == []
    fallback = lab_store.changes(ChangeFilter(order_id=order_id))[-1]
    assert fallback.action == "timing_fallback" and fallback.line_id == 1
    assert fallback.detail.endswith(reason)
    assert platform.clock_command not in fallback.output  # the answers, not the echoes
    assert platform.ntp_mark in fallback.output

    # the controller cuts at 00:00 itself, as without device timing
    lab_store.clock.set(NIGHT)
    assert passes(lab, lab_store, platform)
    report = Reconciler(lab_store).run_pass(NIGHT)
    assert report.ok and report.results[0].state_after.value == "cut"
    assert not passes(lab, lab_store, platform)
    assert lab_store.changes(ChangeFilter(order_id=order_id))[-1].commands  # pushed


def test_the_scheduler_arms_with_its_prepare_and_the_transition_pass_verifies(
    lab, lab_store, platform
):
    """`curfew serve`'s scheduler: a clock at the real pace from 23:59:57 (the twin's too), a
    prepare lead of 2 s: R1's line is armed at 23:59:58 and its prepare finds nothing to
    stage, R1 cuts at 00:00, the transition pass verifies it without a command; R2 (not opted
    in) is cut by the pass."""
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
    assert "time-range CURFEW-TR-1 active" in cut.output
    staged = [c for c in lab_store.changes(ChangeFilter(line_id=1)) if c.action == "staged"]
    assert all(c.verified is not False for c in staged)  # an armed line is no failed stage
    assert not passes(lab, lab_store, platform)


def test_a_dst_night_is_seven_hours_of_utc_on_the_device_too(tmp_path, platform):
    specs, inventory = city(
        devices=1, lines_per_device=1, zone="Europe/Berlin", platforms=(platform.name,)
    )
    clock = SimulatedClock(SPRING - timedelta(minutes=2))
    with Lab(specs) as lab:
        store = Store.open(f"sqlite:///{tmp_path / 'curfew.db'}", clock=clock)
        try:
            import_document(store, opt_in(lab.inventory(inventory), "R1"), "berlin")
            lab.router("R1").clock = clock.now
            _zone(lab, platform, platform.berlin)
            assert Reconciler(store).run_pass(clock.now()).ok
            order(store, "Venue R1-1", SPRING)
            report = arm(store, connect_driver, SPRING, "scheduler")
            assert report.armed == [1], report.fallbacks
            (row,) = armed_windows(store)
            assert row.window_end - row.window_start == timedelta(hours=7)
            assert platform.berlin_range in owned(lab)
            clock.set(SPRING - timedelta(seconds=1))  # 23:59:59 CET
            assert passes(lab, store, platform)
            clock.set(SPRING + timedelta(hours=7) - timedelta(seconds=1))  # 07:59:59 CEST
            assert not passes(lab, store, platform)
            clock.set(SPRING + timedelta(hours=7))  # 08:00 CEST, 06:00 UTC
            assert passes(lab, store, platform)
        finally:
            store.close()


def test_four_routers_with_two_venues_each_are_armed_in_parallel(tmp_path):
    """Routers are armed in parallel, each with every venue it has: every line armed on a
    SQLite store (its armed rows written one writer at a time), each router cutting both
    venues at 00:00 by its own clock."""
    specs, inventory = city(devices=4, lines_per_device=2, platforms=(VRP.name,))
    clock = SimulatedClock(NIGHT - timedelta(minutes=2))
    with Lab(specs) as lab:
        store = Store.open(f"sqlite:///{tmp_path / 'curfew.db'}", clock=clock)
        try:
            names = [spec.name for spec in specs]
            import_document(store, opt_in(lab.inventory(inventory), *names), "lab city")
            for name in names:
                lab.router(name).clock = clock.now
                assert lab.router(name).execute(VRP.china[0]).output == ""
            venues = [f"Venue {name}-{k}" for name in names for k in (1, 2)]
            for venue in venues:
                order(store, venue)
            report = arm(store, connect_driver, NIGHT, "scheduler")
            assert report.fallbacks == {} and sorted(report.armed) == list(range(1, 9))
            assert len(armed_windows(store)) == 8
            clock.set(NIGHT)
            result = Reconciler(store).run_pass(NIGHT)
            assert result.ok and {r.state_after.value for r in result.results} == {"cut"}
            assert all(not c.commands for c in store.changes(ChangeFilter(kinds=("outcome",)))
                       if c.action == "cut")  # fmt: skip
        finally:
            store.close()

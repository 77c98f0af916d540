"""Device-timed windows against the IOS twin over real SSH, on a real store, in simulated time.

The twin's clock is the store's SimulatedClock (plus an offset a test may set): the twin cuts
at 00:00 by its own evaluation of its time-range, before any controller pass.
"""

from __future__ import annotations

import threading
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
from controller.models import Device
from controller.orders import OrderCreate, issue_order, revoke_order, suspend_order
from controller.prepare import PreparedPass, Preparer
from controller.reconciler import Reconciler, connect_driver
from controller.store import ChangeFilter, Store
from drivers.base import Batch
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

MORNING = NIGHT + timedelta(hours=8)


@pytest.fixture
def lab():
    with two_router_city() as running:
        yield running


@pytest.fixture
def lab_store(store: Store, lab: Lab) -> Store:
    """R1 opted in to device timing, its clock the store's, in China Standard Time; R2 not."""
    import_document(store, opt_in(lab.inventory(lab.city_inventory), "R1"), "lab city")
    assert isinstance(store.clock, SimulatedClock)
    trust_clock(lab, store, "R1")
    store.clock.set(NIGHT - timedelta(minutes=2))  # 23:58
    assert Reconciler(store).run_pass(store.clock.now()).ok  # every line read once: open
    return store


def trust_clock(lab: Lab, store: Store, device: str) -> None:
    """The router's clock the store's, in China Standard Time (the venues' offset)."""
    router = lab.router(device)
    router.clock = store.clock.now
    router.configure(["clock timezone CST 8 0"])


def passes(lab: Lab, store: Store, device: str = "R1", interface: str = "GigabitEthernet0/1"):
    """Whether the twin lets the venue's traffic out now, by its own clock and ACLs."""
    return lab.router(device).permits(interface, "in", venue_host(store), OUTSIDE)


def test_armed_at_2358_the_twin_cuts_at_midnight_and_the_pass_records_it_verified(lab, lab_store):
    order_id = order(lab_store, "Venue R1-1")
    clock = lab_store.clock
    report = arm(lab_store, connect_driver, NIGHT, "scheduler")
    assert report.armed == [1] and report.fallbacks == {}
    config = owned(lab)
    # every deny waits on the line's time-range, which holds tonight's window in CST
    assert "deny   ip 198.18.1.0 0.0.0.255 any time-range CURFEW-TR-1" in config
    assert "ip access-group CURFEW-L1 in" in config
    assert (
        "time-range CURFEW-TR-1\n absolute start 00:00 25 November 2026 end 08:00 25 November 2026"
        in lab.router("R1").running_config()
    )
    (row,) = armed_windows(lab_store)
    assert (row.line_id, row.status, row.window_start, row.window_end) == (
        1, ARMED, NIGHT, NIGHT + timedelta(hours=8),
    )  # fmt: skip
    armed = [c for c in lab_store.changes(ChangeFilter(order_id=order_id)) if c.action == "armed"]
    assert len(armed) == 1 and armed[0].verified and armed[0].state_after == "open"
    assert "2026-11-25 00:00–08:00 Asia/Shanghai" in armed[0].detail
    assert armed[0].commands.index("time-range CURFEW-TR-1") < armed[0].commands.index(
        "ip access-list extended CURFEW-L1"
    )

    # armed is open: the twin lets the venue through until its own clock reads 00:00:00
    clock.set(NIGHT - timedelta(seconds=1))
    assert passes(lab, lab_store)
    assert Reconciler(lab_store).run_pass(clock.now()).batches == []
    clock.set(NIGHT)
    assert not passes(lab, lab_store)  # no controller pass yet: the device cut by itself

    # the pass at 00:00 finds the line cut: a verified cut, no command sent, the evidence kept
    report = Reconciler(lab_store).run_pass(NIGHT)
    assert report.ok and [r.state_after.value for r in report.results] == ["cut"]
    cut = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))[-1]
    assert (cut.action, cut.verified, cut.state_after, cut.commands) == ("cut", True, "cut", [])
    # nothing was sent, so nothing was written ahead: the pass logged only what it found
    assert cut.intent_seq is None
    assert not [c for c in lab_store.changes(ChangeFilter(kinds=("intent",))) if c.at >= NIGHT]
    assert "time-range CURFEW-TR-1 active" in cut.output
    assert "time-range CURFEW-TR-1 (active) (1 match)" in cut.output  # the twin's counter

    # 08:00: the ordinary restore removes the ACLs before their time-range, leaves nothing
    clock.set(NIGHT + timedelta(hours=8))
    assert passes(lab, lab_store)  # the window is over on the device's clock as well
    assert Reconciler(lab_store).run_pass(clock.now()).ok
    restore = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))[-1]
    assert restore.action == "restore" and restore.verified and restore.state_after == "open"
    commands = restore.commands
    assert commands.index("no ip access-list extended CURFEW-L1") < commands.index(
        "no time-range CURFEW-TR-1"
    )
    assert commands.index("no ipv6 access-list CURFEW6-L1") < commands.index(
        "no time-range CURFEW-TR-1"
    )
    assert owned(lab) == []
    # the row settles once the router has surely ended the cut by its clock, 30 s on
    assert disarm_revoked(lab_store, connect_driver, clock.now(), "scheduler").ended == 0
    clock.set(clock.now() + RESTORE_SETTLE)
    assert disarm_revoked(lab_store, connect_driver, clock.now(), "scheduler").ended == 1
    assert armed_windows(lab_store, (ENDED,))[0].line_id == 1


def cut_by_the_router_s_clock(lab: Lab, store: Store) -> int:
    """Venue R1-1's order, armed at 23:58 and cut by R1's own clock at 00:00, the pass at
    00:00 verifying it; returns the order's id."""
    order_id = order(store, "Venue R1-1")
    assert arm(store, connect_driver, NIGHT, "scheduler").armed == [1]
    store.clock.set(NIGHT)
    assert not passes(lab, store)
    assert [r.state_after.value for r in Reconciler(store).run_pass(NIGHT).results] == ["cut"]
    return order_id


def prepared_morning(store: Store) -> tuple[Reconciler, PreparedPass]:
    """The 08:00 restore prepared at 07:58, its sessions open."""
    reconciler = Reconciler(store)
    store.clock.set(MORNING - timedelta(minutes=2))
    return reconciler, Preparer(reconciler).prepare(MORNING)


def test_a_prepared_restore_the_router_s_clock_made_sends_nothing_at_0800(lab, lab_store):
    """At 08:00 the router's time-range has ended the cut on its own clock: the prepared pass
    reads that (the time-range not in force, the router's clock past its end), records the
    restore verified with nothing sent, and removes the line's objects only once every router
    is restored: bindings, then ACLs, then the time-range."""
    order_id = cut_by_the_router_s_clock(lab, lab_store)
    reconciler, prepared = prepared_morning(lab_store)
    lab_store.clock.set(MORNING)
    assert passes(lab, lab_store)  # the router restored the venue by itself, before any pass
    report = reconciler.run_pass(MORNING, prepared=prepared)
    assert report.ok and report.bound_prepared == ["R1"], report.failures
    assert [(r.change.line_id, r.state_after.value, r.verified) for r in report.results] == [
        (1, "open", True)
    ]
    outcomes = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))
    restore = next(c for c in outcomes if c.at >= MORNING and c.action != "unstaged")
    assert (restore.action, restore.verified, restore.state_after) == ("verify", True, "open")
    assert restore.commands == [] and restore.intent_seq is None
    assert "line 1: found open, nothing sent; time-range CURFEW-TR-1 not in force" in (
        restore.output
    )
    assert "end 08:00 25 November 2026), the device's clock 2026-11-25 08:00:" in restore.output
    # after the pass: the objects removed whole, the ACLs before the time-range they name
    (unstaged,) = [c for c in outcomes if c.action == "unstaged"]
    assert unstaged.verified and unstaged.at >= restore.at
    commands = unstaged.commands
    assert commands.index("no ip access-group CURFEW-L1 in") < commands.index(
        "no ip access-list extended CURFEW-L1"
    )
    assert commands.index("no ip access-list extended CURFEW-L1") < commands.index(
        "no time-range CURFEW-TR-1"
    )
    assert owned(lab) == [] and "CURFEW-TR-1" not in lab.router("R1").running_config()
    assert passes(lab, lab_store)


def test_a_prepared_restore_unbinds_at_once_where_the_router_s_clock_has_not_ended_it(
    lab, lab_store
):
    """Where R1's clock is 2 s behind at 08:00 its time-range is still in force: the pass
    unbinds the line at the instant, as for any cut. And a line armed for a night still to
    come, restored (its order revoked), is unbound at once: its time-range is not in force,
    but its end is ahead of the router's clock."""
    cut_by_the_router_s_clock(lab, lab_store)
    reconciler, prepared = prepared_morning(lab_store)
    lab.router("R1").clock = lambda: lab_store.clock.now() - timedelta(seconds=2)
    lab_store.clock.set(MORNING)
    assert not passes(lab, lab_store)  # 07:59:58 on the router
    report = reconciler.run_pass(MORNING, prepared=prepared)
    assert report.ok and [r.state_after.value for r in report.results] == ["open"]
    restore = lab_store.changes(ChangeFilter(line_id=1, kinds=("outcome",)))
    restore = [c for c in restore if c.at >= MORNING and c.action != "unstaged"][-1]
    assert restore.action == "restore" and "no ip access-group CURFEW-L1 in" in restore.commands
    assert "found open, nothing sent" not in restore.output
    assert owned(lab) == [] and passes(lab, lab_store)

    # the next night armed, its order then revoked: the driver's own bind at 23:58
    trust_clock(lab, lab_store, "R1")
    tomorrow = NIGHT + timedelta(days=1)
    lab_store.clock.set(tomorrow - timedelta(minutes=2))
    assert arm(lab_store, connect_driver, tomorrow, "scheduler").armed == [1]
    (device,) = [d for d in lab_store.devices() if d.name == "R1"]
    driver = connect_driver(device, 10.0)
    target = lab_store.snapshot().targets[1]
    with driver:
        result = driver.bind(Batch(restores=(target,)), keep_bodies=True)
    (outcome,) = result.outcomes
    assert outcome.verified and "no ip access-group CURFEW-L1 in" in outcome.commands
    assert "found open, nothing sent" not in result.device_output
    assert "ip access-group CURFEW-L1" not in "\n".join(owned(lab))
    clock = lab_store.clock
    clock.set(tomorrow)
    assert passes(lab, lab_store)  # nothing bound: the router cuts nothing at its 00:00


def test_a_suspension_during_the_night_is_cut_again_once_the_router_s_window_has_ended(
    lab, lab_store
):
    """A suspension at 03:00 keeps the line cut past 08:00, but the router's armed window ends
    at 08:00 by its own clock: it opens the venue while the store still says cut, so a pass
    alone would change nothing. Once the router has surely ended it (RESTORE_SETTLE), the
    line is recorded unknown, citing the suspension, and the next pass cuts it again."""
    cut_by_the_router_s_clock(lab, lab_store)
    clock = lab_store.clock
    clock.set(NIGHT + timedelta(hours=3))
    suspension = issue_order(
        lab_store,
        OrderCreate(
            venue="Venue R1-1", kind="disconnect", reason="suspension",
            legal_basis="临兰文执发〔2018〕5号", effective_from=clock.now(),
        ),
        actor="bureau:test",
    ).id  # fmt: skip
    report = Reconciler(lab_store).run_pass(clock.now())
    assert report.ok and report.batches == []  # the line is cut: nothing to change at 03:00
    clock.set(MORNING)
    assert passes(lab, lab_store)  # the router ended its window on its own clock
    assert Reconciler(lab_store).run_pass(clock.now(), dry_run=True).batches == []
    # within the settle the row is neither ended nor acted on
    assert disarm_revoked(lab_store, connect_driver, clock.now(), "scheduler").ended == 0
    clock.set(MORNING + RESTORE_SETTLE)
    assert disarm_revoked(lab_store, connect_driver, clock.now(), "scheduler").ended == 1
    ended = lab_store.changes(ChangeFilter(line_id=1))[-1]
    assert (ended.action, ended.state_after) == ("restore_ran", "unknown")
    assert ended.order_ids == [suspension]
    assert "ended at 2026-11-25T00:00:00+00:00 on the router's clock" in ended.detail

    report = Reconciler(lab_store).run_pass(clock.now())
    assert report.ok and [r.state_after.value for r in report.results] == ["cut"]
    cut = lab_store.changes(ChangeFilter(line_id=1, kinds=("outcome",)))[-1]
    assert (cut.action, cut.verified, cut.order_ids) == ("cut", True, [suspension])
    assert "ip access-group CURFEW-L1 in" in cut.commands  # a plain cut, pushed
    assert not passes(lab, lab_store)
    assert "time-range CURFEW-TR-1" not in "\n".join(owned(lab))


def test_the_pass_at_midnight_takes_its_evidence_from_its_one_read(lab, lab_store):
    """The read of a device opted in to device timing carries the owned ACLs as the device
    evaluates them (`show access-lists`, each entry's time-range state and matches): the pass
    that finds the cut in force records that evidence without an exchange of its own."""
    order(lab_store, "Venue R1-1")
    assert arm(lab_store, connect_driver, NIGHT, "scheduler").armed == [1]
    lab_store.clock.set(NIGHT)
    assert not passes(lab, lab_store)  # the twin cut by its own clock: one match counted
    exchanges: list[list[str]] = []

    def spied(device: Device, timeout: float):
        driver = connect_driver(device, timeout)
        cli = driver._cli  # type: ignore[attr-defined]
        converse = cli.converse

        def recorded(commands, *args, **kwargs):
            exchanges.append(list(commands))
            return converse(commands, *args, **kwargs)

        cli.converse = recorded
        return driver

    report = Reconciler(lab_store, driver_factory=spied).run_pass(NIGHT)
    assert report.ok and [(r.change.line_id, r.state_after.value) for r in report.results] == [
        (1, "cut")
    ]
    # R1's one read: configuration, time-ranges, ACL states; nothing read after it
    r1 = [e for e in exchanges if "show access-lists" in " ".join(e)]
    assert len(r1) == 1 and r1[0][-1].startswith("show access-lists | section")
    assert not any(c.startswith("show access-lists CURFEW") for e in exchanges for c in e)
    cut = lab_store.changes(ChangeFilter(line_id=1, kinds=("outcome",)))[-1]
    assert (cut.action, cut.verified, cut.commands) == ("cut", True, [])
    output = cut.output
    assert "line 1: cut by the device's clock, time-range CURFEW-TR-1 active" in output
    v4 = output.index("Extended IP access list CURFEW-L1\n")
    assert "time-range CURFEW-TR-1 (active) (1 match)" in output[v4:]
    assert "IPv6 access list CURFEW6-L1\n" in output

    # a pass with no cut to find (the 08:00 restore) does not ask for the ACLs' states
    exchanges.clear()
    lab_store.clock.set(NIGHT + timedelta(hours=8))
    assert Reconciler(lab_store, driver_factory=spied).run_pass(lab_store.clock.now()).ok
    assert exchanges and not any("show access-lists" in c for e in exchanges for c in e)


def test_a_router_with_three_venues_arms_every_line_and_cuts_them_all_at_midnight(store):
    """One router, three venues on three interfaces, all opted in: each line takes the filter
    slots of its own interface only, so every line is armed (none refused as "cut in this
    batch"), the twin cuts all three at 00:00, the pass verifies each without a command, and
    the restore at 08:00 leaves nothing."""
    specs, inventory = city(devices=1, lines_per_device=3)
    with Lab(specs) as lab:
        import_document(store, opt_in(lab.inventory(inventory), "R1"), "lab city")
        router, clock = lab.router("R1"), store.clock
        assert isinstance(clock, SimulatedClock)
        trust_clock(lab, store, "R1")
        clock.set(NIGHT - timedelta(minutes=2))
        assert Reconciler(store).run_pass(clock.now()).ok
        lines = (1, 2, 3)
        targets = store.snapshot().targets
        interfaces = {line: targets[line].interface for line in lines}
        assert len(set(interfaces.values())) == 3

        def venue_passes(line: int) -> bool:
            return router.permits(interfaces[line], "in", venue_host(store, line), OUTSIDE)

        orders = {line: order(store, f"Venue R1-{line}") for line in lines}
        report = arm(store, connect_driver, NIGHT, "scheduler")
        assert report.fallbacks == {} and sorted(report.armed) == [1, 2, 3]
        assert [(r.line_id, r.status) for r in armed_windows(store)] == [
            (line, ARMED) for line in lines
        ]
        assert not [c for c in store.changes(ChangeFilter()) if c.action == "timing_fallback"]
        config = router.running_config()
        for line in lines:
            assert f"any time-range CURFEW-TR-{line}" in config  # its denies wait on it
            assert f"time-range CURFEW-TR-{line}\n absolute start 00:00 25 November 2026" in (
                config
            )
            assert f"ip access-group CURFEW-L{line} in" in config

        clock.set(NIGHT - timedelta(seconds=1))
        assert all(venue_passes(line) for line in lines)  # armed is open
        clock.set(NIGHT)
        assert not any(venue_passes(line) for line in lines)  # the router cut all three

        result = Reconciler(store).run_pass(NIGHT)
        assert result.ok and sorted(r.change.line_id for r in result.results) == [1, 2, 3]
        assert {r.state_after.value for r in result.results} == {"cut"}
        for line, order_id in orders.items():
            cut = store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))[-1]
            assert (cut.action, cut.verified, cut.commands) == ("cut", True, [])
            assert f"time-range CURFEW-TR-{line} active" in cut.output

        clock.set(NIGHT + timedelta(hours=8))
        assert Reconciler(store).run_pass(clock.now()).ok
        assert owned(lab) == [] and all(venue_passes(line) for line in lines)
        clock.set(clock.now() + RESTORE_SETTLE)
        assert disarm_revoked(store, connect_driver, clock.now(), "scheduler").ended == 3


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
    assert passes(lab, lab_store)  # never cut
    assert Reconciler(lab_store).run_pass(NIGHT).batches == []
    log = lab_store.changes(ChangeFilter(line_id=1, kinds=("intent", "outcome")))
    assert [(c.kind, c.action) for c in log][-2:] == [("intent", "disarm"), ("outcome", "disarmed")]
    disarmed = log[-1]
    assert disarmed.verified and disarmed.order_ids == [order_id]
    assert disarmed.commands.index("no ip access-list extended CURFEW-L1") < (
        disarmed.commands.index("no time-range CURFEW-TR-1")
    )
    assert armed_windows(lab_store, (DISARMED,))[0].line_id == 1


def test_a_device_that_does_not_cut_at_the_instant_is_cut_by_the_pass(lab, lab_store):
    """Its clock slipped after it was trusted: at 00:00 the armed line still lets the venue
    through, so the ordinary pass removes the armed objects and pushes a plain cut."""
    order_id = order(lab_store, "Venue R1-1")
    assert arm(lab_store, connect_driver, NIGHT, "scheduler").armed == [1]
    lab.router("R1").clock_offset = -timedelta(minutes=10)  # 23:50 on the router at 00:00
    lab_store.clock.set(NIGHT)
    assert passes(lab, lab_store)
    report = Reconciler(lab_store).run_pass(NIGHT)
    assert report.ok and report.results[0].state_after.value == "cut"
    assert not passes(lab, lab_store)
    cut = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))[-1]
    assert cut.action == "cut" and cut.verified
    # commands were sent: written ahead, the intent before them, answered by the outcome
    intent = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("intent",)))[-1]
    assert (intent.action, intent.seq) == ("cut", cut.intent_seq)
    commands = cut.commands
    assert (
        commands.index("no ip access-list extended CURFEW-L1")
        < commands.index("no time-range CURFEW-TR-1")
        < commands.index("ip access-list extended CURFEW-L1")
    )
    assert not any("time-range" in line for line in owned(lab))

    lab_store.clock.set(NIGHT + timedelta(hours=8))
    assert Reconciler(lab_store).run_pass(lab_store.clock.now()).ok
    assert owned(lab) == [] and passes(lab, lab_store)


def test_a_router_opted_out_after_arming_is_still_read_right(lab, lab_store):
    """Its reads no longer ask for time-ranges up front; an owned entry naming one makes the
    driver ask, so an armed line still reads open before its window and cut in it."""
    order(lab_store, "Venue R1-1")
    assert arm(lab_store, connect_driver, NIGHT, "scheduler").armed == [1]
    device = opt_out(lab_store)
    for instant, state in ((NIGHT - timedelta(seconds=1), "open"), (NIGHT, "cut")):
        lab_store.clock.set(instant)
        assert read_state(lab_store, device) == state


WRONG_ZONE = "device zone UTC+0 at 00:00, venue Asia/Shanghai is UTC+8"


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"clock_offset": timedelta(seconds=5)}, "device clock 5.0 s off (limit 1 s)"),
        ({"ntp_lost": True}, "device not NTP-synchronised"),
        (
            {"zone": "clock timezone UTC 0 0"},
            "device zone UTC+0 at 00:00, venue Asia/Shanghai is UTC+8",
        ),
    ],
    ids=["5s-off", "unsynchronised", "wrong-zone"],
)
def test_an_untrusted_clock_falls_back_to_controller_timing_and_says_why(
    lab, lab_store, fault, reason
):
    order_id = order(lab_store, "Venue R1-1")
    router, fault = lab.router("R1"), dict(fault)  # the parameter is shared by every run
    if "zone" in fault:
        router.configure([fault.pop("zone")])
    for name, value in fault.items():
        setattr(router, name, value)

    report = arm(lab_store, connect_driver, NIGHT, "scheduler")
    assert report.armed == [] and report.fallbacks == {1: reason}
    assert owned(lab) == [] and armed_windows(lab_store) == []
    fallback = lab_store.changes(ChangeFilter(order_id=order_id))[-1]
    assert fallback.action == "timing_fallback" and fallback.line_id == 1
    assert fallback.detail.endswith(reason)
    assert "show clock" not in fallback.output and "Clock is" in fallback.output  # the evidence

    # the controller cuts at 00:00 itself, as without device timing
    lab_store.clock.set(NIGHT)
    assert passes(lab, lab_store)
    report = Reconciler(lab_store).run_pass(NIGHT)
    assert report.ok and report.results[0].state_after.value == "cut"
    assert not passes(lab, lab_store)
    assert lab_store.changes(ChangeFilter(order_id=order_id))[-1].commands  # pushed


def test_the_scheduler_arms_with_its_prepare_and_the_transition_pass_verifies(lab, lab_store):
    """`curfew serve`'s scheduler: a clock at the real pace from 23:59:57 (the twin's too), a
    prepare lead of 2 s: R1's line is armed at 23:59:58 (and not staged by the prepare), cut by
    R1 at 00:00, and verified by the transition pass without a command; R2 (not opted in) is
    staged and cut by the pass."""
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
    # the prepare stages R2's cut only: R1's line holds its armed objects already
    staged = {c.line_id for c in lab_store.changes() if c.action == "staged"}
    assert staged == {2}


def test_with_an_arm_lead_the_scheduler_arms_in_its_own_job_before_the_prepare(lab, lab_store):
    """An arm lead of 5 s and a prepare lead of 2 s: R1's line is armed by the arm job, before
    the prepare's time; the prepare stages R2's cut only; R1 cuts at 00:00 by its own clock and
    the transition pass verifies it without a command."""
    order_id = order(lab_store, "Venue R1-1")
    order(lab_store, "Venue R2-1")
    midnight = scheduler_through_midnight(lab, lab_store, arm_lead=timedelta(seconds=5))
    (row,) = armed_windows(lab_store)
    assert row.line_id == 1 and row.status == ARMED
    assert row.armed_at < NIGHT - timedelta(seconds=2)  # before the prepare began
    assert midnight.ok
    by_line = {r.change.line_id: r for r in midnight.results}
    assert by_line[1].state_after.value == "cut" and by_line[2].state_after.value == "cut"
    cut = lab_store.changes(ChangeFilter(order_id=order_id, kinds=("outcome",)))[-1]
    assert (cut.action, cut.commands) == ("cut", [])
    assert {c.line_id for c in lab_store.changes() if c.action == "staged"} == {2}


def test_an_arming_stopped_by_the_instant_leaves_its_routers_to_controller_timing(lab, lab_store):
    """The instant came (the stop is set) before R1's arming began: nothing is sent to R1, its
    line is left to controller timing with that reason, and the midnight pass cuts it."""
    order(lab_store, "Venue R1-1")
    stop = threading.Event()
    stop.set()
    report = arm(lab_store, connect_driver, NIGHT, "scheduler", stop=stop)
    assert report.armed == [] and report.fallbacks == {
        1: "the instant came before its router's arming began"
    }
    assert armed_windows(lab_store) == [] and owned(lab) == []
    lab_store.clock.set(NIGHT)
    cut = Reconciler(lab_store).run_pass(NIGHT)
    assert cut.ok and cut.results[0].state_after.value == "cut"
    assert cut.results[0].verified


def test_a_device_not_opted_in_is_left_alone_and_another_platform_falls_back(lab, lab_store):
    """R2 did not opt in: arm does not touch it. A platform without device timing says so."""
    order(lab_store, "Venue R2-1")
    assert arm(lab_store, connect_driver, NIGHT, "scheduler").fallbacks == {}
    assert owned(lab, "R2") == []
    with lab_store.session() as s:
        device = s.get(Device, 2)
        device.options_json = '{"timing": "device"}'
        device.platform = "arista_eos"  # a platform whose driver has no device timing
        s.add(device)
        s.commit()
    report = arm(lab_store, connect_driver, NIGHT, "scheduler")
    assert report.fallbacks == {2: "device timing is not built for arista_eos"}


def test_a_router_whose_arming_fails_unexpectedly_does_not_stop_the_others(lab, lab_store):
    """An error no driver answers with (the store timing out, a bug) on R1 leaves R1's line to
    controller timing, saying why, and R2 is armed all the same."""
    order(lab_store, "Venue R1-1")
    order(lab_store, "Venue R2-1")
    with lab_store.session() as s:  # R2 opted in too, its clock trusted as R1's
        device = s.get(Device, 2)
        device.options_json = '{"timing": "device"}'
        s.add(device)
        s.commit()
    trust_clock(lab, lab_store, "R2")

    def factory(device: Device, timeout: float):
        if device.name == "R1":
            raise RuntimeError("QueuePool limit reached")
        return connect_driver(device, timeout)

    report = arm(lab_store, factory, NIGHT, "scheduler", workers=2)
    assert report.armed == [2]
    assert report.fallbacks == {1: "arming failed: RuntimeError: QueuePool limit reached"}
    assert owned(lab, "R1") == [] and owned(lab, "R2")


def test_a_dst_night_is_seven_hours_of_utc_on_the_device_too(tmp_path):
    specs, inventory = city(devices=1, lines_per_device=1, zone="Europe/Berlin")
    clock = SimulatedClock(SPRING - timedelta(minutes=2))
    with Lab(specs) as lab:
        store = Store.open(f"sqlite:///{tmp_path / 'curfew.db'}", clock=clock)
        try:
            import_document(store, opt_in(lab.inventory(inventory), "R1"), "berlin")
            router = lab.router("R1")
            router.clock = clock.now
            router.configure(
                [
                    "clock timezone CET 1 0",
                    "clock summer-time CEST recurring last Sun Mar 2:00 last Sun Oct 3:00",
                ]
            )
            assert Reconciler(store).run_pass(clock.now()).ok
            order(store, "Venue R1-1", SPRING)
            report = arm(store, connect_driver, SPRING, "scheduler")
            assert report.armed == [1], report.fallbacks
            (row,) = armed_windows(store)
            assert row.window_end - row.window_start == timedelta(hours=7)
            assert (
                "absolute start 00:00 29 March 2026 end 08:00 29 March 2026"
                in lab.router("R1").running_config()
            )
            clock.set(SPRING + timedelta(hours=7) - timedelta(seconds=1))  # 07:59:59 CEST
            assert not passes(lab, store)
            clock.set(SPRING + timedelta(hours=7))  # 08:00 CEST, 06:00 UTC
            assert passes(lab, store)
        finally:
            store.close()

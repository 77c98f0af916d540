"""Prepare before the instant, act at the instant: sessions opened and bodies staged at 23:58,
only the bindings pushed at 00:00, over real SSH to lab twins and a real SQLite store."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from api.cli import app
from controller.changelog import NewChange
from controller.clock import OffsetClock
from controller.interrupted import interrupted_intents
from controller.inventory import import_document
from controller.models import Change
from controller.orders import OrderCreate, issue_order, revoke_order
from controller.passes import set_frozen
from controller.prepare import PreparedPass, Preparer
from controller.reconciler import PassReport, Reconciler, connect_driver
from controller.scheduler import PassScheduler, log_pass
from controller.settings import Settings
from controller.store import ChangeFilter, StateRow, Store
from lab.topology import Lab, city
from tests.conftest import SHANGHAI, SQLITE_ONLY

pytestmark = [pytest.mark.lab, SQLITE_ONLY]


NIGHT = datetime(2026, 11, 25, tzinfo=SHANGHAI)
PREPARE_AT = NIGHT - timedelta(minutes=2)
EVENING = NIGHT - timedelta(hours=2)


@pytest.fixture
def night(store: Store) -> Iterator[tuple[Lab, Store, dict[str, int]]]:
    """Two IOS routers, two lines each, a curfew order on every venue, every line recorded open
    by an evening pass."""
    specs, inventory = city(devices=2, lines_per_device=2)
    with Lab(specs) as lab:
        yield lab, store, curfew_on_every_venue(store, lab, inventory)


def curfew_on_every_venue(store: Store, lab: Lab, inventory: dict) -> dict[str, int]:
    """The lab city imported, a curfew order on every venue, every line recorded open by an
    evening pass; each venue's order id."""
    import_document(store, lab.inventory(inventory), "lab city")
    orders = {}
    for venue in store.venues():
        created = issue_order(
            store,
            OrderCreate(
                venue=venue.name, kind="curfew", reason="after_hours",
                legal_basis="临兰文执发〔2018〕3号", effective_from=NIGHT - timedelta(days=7),
            ),
            "bureau:test",
        )  # fmt: skip
        assert created.id is not None
        orders[venue.name] = created.id
    store.clock.set(EVENING)
    assert Reconciler(store).run_pass(EVENING).ok
    assert {s.state for s in store.line_statuses().values()} == {"open"}
    return orders


def owned(lab: Lab, device: str) -> list[str]:
    return [ln.strip() for ln in lab.router(device).running_config().splitlines() if "CURFEW" in ln]


def bound(lab: Lab, device: str) -> list[str]:
    return [line for line in owned(lab, device) if "access-group" in line]


LINES = {"R1": {1, 2}, "R2": {3, 4}}


def cut_lines(lab: Lab, device: str) -> set[int]:
    """Lines whose ACL is bound inbound on the router."""
    found = (re.fullmatch(r"ip access-group CURFEW-L(\d+) in", line) for line in bound(lab, device))
    return {int(match.group(1)) for match in found if match}


def records(store: Store, action: str, kind: str = "outcome") -> list[Change]:
    return [c for c in store.changes() if c.action == action and c.kind == kind]


def audit_verify(store: Store):
    url = store.engine.url.render_as_string(hide_password=False)
    return CliRunner().invoke(app, ["audit", "verify"], env={"CURFEW_DATABASE_URL": url})


def prepare(store: Store, reconciler: Reconciler, instant: datetime = NIGHT):
    store.clock.set(instant - timedelta(minutes=2))
    return Preparer(reconciler).prepare(instant)


def test_a_prepared_midnight_binds_only_and_every_cut_is_verified(night):
    lab, store, orders = night
    reconciler = Reconciler(store)
    prepared = prepare(store, reconciler)
    assert (prepared.prepared_devices, prepared.staged_lines, prepared.failed) == (2, 4, {})
    # staged: the bodies are on the routers, bound nowhere; no line's state changed
    for device in ("R1", "R2"):
        assert any(
            line.startswith("ip access-list extended CURFEW-L") for line in owned(lab, device)
        )
        assert bound(lab, device) == []
    assert {s.state for s in store.line_statuses().values()} == {"open"}
    staged = records(store, "staged")
    assert len(staged) == 4 and all(c.verified and c.state_after is None for c in staged)
    intents = {c.seq: c for c in records(store, "staged", "intent")}
    for outcome in staged:
        assert outcome.intent_seq in intents  # written ahead
        venue = next(v for v in store.venues() if v.id == outcome.venue_id)
        assert outcome.order_ids == [orders[venue.name]]
        assert any(c.startswith("ip access-list extended CURFEW-L") for c in outcome.commands)

    store.clock.set(NIGHT)
    report = reconciler.run_pass(NIGHT, prepared=prepared)
    assert report.ok, report.failures
    assert report.bound_prepared == ["R1", "R2"] and report.pushed_cold == []
    assert len(report.results) == 4 and all(r.state_after.value == "cut" for r in report.results)
    assert prepared.open_sessions == 0
    cuts = {c.line_id: c for c in records(store, "cut")}
    for line_id, cut in cuts.items():
        assert cut.verified and cut.state_after == "cut"
        assert cut.commands, "the binding was sent"
        # only bindings went out: no body line
        assert not any("access-list" in c and "access-group" not in c for c in cut.commands)
        assert any(f"ip access-group CURFEW-L{line_id} in" in c for c in cut.commands)
    for device in ("R1", "R2"):
        assert cut_lines(lab, device) == LINES[device]

    # the same cuts pushed cold the next night send the bodies too: more commands
    store.clock.set(NIGHT + timedelta(hours=8))
    assert reconciler.run_pass(NIGHT + timedelta(hours=8)).ok
    store.clock.set(NIGHT + timedelta(days=1))
    cold = reconciler.run_pass(NIGHT + timedelta(days=1))
    assert cold.ok and cold.pushed_cold == ["R1", "R2"] and cold.bound_prepared == []
    again = {
        c.line_id: c for c in records(store, "cut") if c.seq > max(x.seq for x in cuts.values())
    }
    assert set(again) == set(cuts)
    for line_id, cut in cuts.items():
        assert len(cut.commands) < len(again[line_id].commands)
        assert any(
            c.startswith("ip access-list extended CURFEW-L") for c in again[line_id].commands
        )
    assert audit_verify(store).exit_code == 0


def test_the_prepared_sessions_log_out_only_after_every_router_is_pushed(night):
    """Logging out (a prompt read, then `exit`) is not in the way of another router's push:
    the pass closes the sessions it used once every router is pushed and logged."""
    lab, store, _ = night
    reconciler = Reconciler(store)
    prepared = prepare(store, reconciler)
    sessions = list(prepared._sessions.values())
    assert len(sessions) == 2 and all(s.open for s in sessions)
    still_open: list[int] = []
    reconciler.progress = lambda *_: still_open.append(sum(s.open for s in sessions))
    store.clock.set(NIGHT)
    report = reconciler.run_pass(NIGHT, prepared=prepared)
    assert report.ok and report.bound_prepared == ["R1", "R2"]
    assert still_open == [2, 2]  # as each router was done, no session had logged out yet
    assert not any(s.open for s in sessions) and prepared.open_sessions == 0
    for device in ("R1", "R2"):
        assert cut_lines(lab, device) == LINES[device]


def test_a_prepared_midnight_over_asyncssh_sessions_binds_and_restores(night):
    """The routers' option `session: asyncssh`: the prepare's sessions wait on the shared
    loop, the pass binds over them at 00:00 and the restore at 08:00 leaves nothing."""
    lab, store, _ = night
    _, inventory = city(devices=2, lines_per_device=2)
    document = lab.inventory(inventory)
    for device in document["devices"]:
        device["options"] = {"session": "asyncssh"}
    import_document(store, document, "lab city, asyncssh sessions")
    reconciler = Reconciler(store)
    prepared = prepare(store, reconciler)
    assert (prepared.prepared_devices, prepared.staged_lines, prepared.failed) == (2, 4, {})
    layers = {type(s.driver._cli).__name__ for s in prepared._sessions.values()}  # type: ignore[attr-defined]
    assert layers == {"AsyncCliSession"}
    store.clock.set(NIGHT)
    report = reconciler.run_pass(NIGHT, prepared=prepared)
    assert report.ok and report.bound_prepared == ["R1", "R2"], report.failures
    assert [r.state_after.value for r in report.results] == ["cut"] * 4
    for device in ("R1", "R2"):
        assert cut_lines(lab, device) == LINES[device]
    store.clock.set(NIGHT + timedelta(hours=8) - timedelta(minutes=2))
    morning = Preparer(reconciler).prepare(NIGHT + timedelta(hours=8))
    store.clock.set(NIGHT + timedelta(hours=8))
    restored = reconciler.run_pass(NIGHT + timedelta(hours=8), prepared=morning)
    assert restored.ok and restored.bound_prepared == ["R1", "R2"]
    assert owned(lab, "R1") == owned(lab, "R2") == []
    assert audit_verify(store).exit_code == 0


def test_a_revocation_between_prepare_and_midnight_leaves_the_line_open_and_unstages_it(night):
    lab, store, orders = night
    reconciler = Reconciler(store)
    prepared = prepare(store, reconciler)
    assert prepared.staged_lines == 4
    # 23:59: the bureau revokes R1-1's order; the line was staged
    store.clock.set(NIGHT - timedelta(minutes=1))
    revoked = orders["Venue R1-1"]
    revoke_order(store, revoked, "licence reinstated", "bureau:test")
    store.clock.set(NIGHT)
    report = reconciler.run_pass(NIGHT, prepared=prepared)
    assert report.ok, report.failures
    assert {r.change.line_id for r in report.results} == {2, 3, 4}
    assert report.unstaged == [1]
    # the device: line 1 neither bound nor any of its objects left; line 2 cut
    assert not any("CURFEW-L1" in line for line in owned(lab, "R1"))
    assert "ip access-group CURFEW-L2 in" in bound(lab, "R1")
    assert store.line_statuses()[1].state == "open"
    driver_read = _read(store, "R1")
    assert 1 not in driver_read and 2 in driver_read
    # the log says so: the discard, written ahead, citing the order the stage cited
    unstaged = [c for c in store.changes(ChangeFilter(line_id=1)) if c.action == "unstaged"]
    assert [c.kind for c in unstaged] == ["intent", "outcome"]
    assert unstaged[1].intent_seq == unstaged[0].seq and unstaged[1].verified
    assert unstaged[1].order_ids == [revoked] and unstaged[1].pass_id == report.pass_id
    assert any(c.startswith("no ip access-list extended CURFEW-L1") for c in unstaged[1].commands)
    assert not [c for c in store.changes(ChangeFilter(line_id=1)) if c.action == "cut"]


def test_with_nothing_changed_since_the_prepare_the_pass_follows_the_plan_made_ahead(night, caplog):
    """The prepare plans the instant once its staging is done; the pass a few milliseconds
    after the instant (as the scheduler's starts) binds from that plan without reading the
    store again, and cuts every line. The pass's log line says so."""
    lab, store, _ = night
    reconciler = Reconciler(store)
    prepared = prepare(store, reconciler)
    started = NIGHT + timedelta(milliseconds=4)
    store.clock.set(started)
    report = reconciler.run_pass(started, prepared=prepared)
    assert report.ok and report.planned_ahead and report.plan.at == started
    with caplog.at_level(logging.INFO, logger="curfew.pass"):
        log_pass(report)
    (line,) = [r for r in caplog.records if getattr(r, "event", None) == "pass"]
    assert "2 routers over prepared sessions, 0 cold, the plan made ahead" in line.getMessage()
    assert (line.prepared_routers, line.cold_routers, line.planned_ahead) == (2, 0, True)  # type: ignore[attr-defined]
    assert sorted(r.change.line_id for r in report.results) == [1, 2, 3, 4]
    for device in ("R1", "R2"):
        assert cut_lines(lab, device) == LINES[device]
    assert prepared.take_plan(started) is None  # a plan is used once
    # never before its instant, nor at or after the next edge of an order or window
    morning = NIGHT + timedelta(hours=8)
    for at, used in (
        (morning - timedelta(seconds=1), False),
        (morning + timedelta(hours=1), False),  # the plan's horizon: no edge sought beyond
        (morning + timedelta(minutes=59), True),
    ):
        with prepare(store, reconciler, morning) as again:
            assert (again.take_plan(at) is not None) is used, at


def test_an_order_issued_after_the_prepare_for_a_router_with_no_work_is_cut_at_the_instant(night):
    """R2's venues have no order in force when the prepare plans midnight; one is issued again
    at 23:59. The plan made ahead has nothing for R2, so the pass must not follow it."""
    lab, store, orders = night
    for venue in ("Venue R2-1", "Venue R2-2"):
        revoke_order(store, orders[venue], "licence reinstated", "bureau:test")
    reconciler = Reconciler(store)
    prepared = prepare(store, reconciler)
    assert prepared.staged_lines == 2  # R1's lines only
    store.clock.set(NIGHT - timedelta(minutes=1))
    issue_order(
        store,
        OrderCreate(
            venue="Venue R2-1", kind="curfew", reason="after_hours",
            legal_basis="临兰文执发〔2018〕3号", effective_from=NIGHT - timedelta(days=1),
        ),
        "bureau:test",
    )  # fmt: skip
    store.clock.set(NIGHT)
    report = reconciler.run_pass(NIGHT, prepared=prepared)
    assert report.ok and not report.planned_ahead
    assert cut_lines(lab, "R1") == {1, 2} and cut_lines(lab, "R2") == {3}
    assert store.line_statuses()[3].state == "cut"


def test_an_inventory_change_after_the_prepare_is_planned_afresh_at_the_instant(night, caplog):
    """At 23:59 line 1 is blocked (its inventory no longer matches the router), by a write no
    order event records. The plan made ahead would cut it; the pass plans afresh and the
    staged line is discarded, never bound."""
    lab, store, _ = night
    reconciler = Reconciler(store)
    prepared = prepare(store, reconciler)
    assert prepared.staged_lines == 4
    store.clock.set(NIGHT - timedelta(minutes=1))
    with store.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE lines SET blocked = 'the interface is gone from the router' WHERE id = 1"
        )
    store.clock.set(NIGHT)
    report = reconciler.run_pass(NIGHT, prepared=prepared)
    assert not report.planned_ahead
    with caplog.at_level(logging.INFO, logger="curfew.pass"):
        log_pass(report)
    assert "2 routers over prepared sessions, 0 cold, planned at the instant" in caplog.text
    assert report.unstaged == [1]
    assert cut_lines(lab, "R1") == {2} and cut_lines(lab, "R2") == {3, 4}
    assert not any("CURFEW-L1" in line for line in owned(lab, "R1"))
    assert not [c for c in store.changes(ChangeFilter(line_id=1)) if c.action == "cut"]


def test_a_line_state_recorded_after_the_prepare_is_planned_afresh_at_the_instant(night):
    """Another instance records line 4 cut at 23:59 (it pushed it). The pass plans from the
    store as it is at the instant, and leaves line 4 to the record."""
    lab, store, orders = night
    reconciler = Reconciler(store)
    prepared = prepare(store, reconciler)
    store.clock.set(NIGHT - timedelta(minutes=1))
    device_id = next(d.id for d in store.devices() if d.name == "R2")
    now = store.clock.now()
    venue_id = store.snapshot().line_venue[4]

    def states(written: list[Change]) -> list[StateRow]:
        return [StateRow(4, "cut", now, written[0].seq, json.dumps([orders["Venue R2-2"]]))]

    store.append(
        [
            NewChange(
                at=now, kind="outcome", action="cut", actor="another instance", pass_id="p2",
                order_ids=(orders["Venue R2-2"],), line_id=4, venue_id=venue_id,
                device_id=device_id, state_after="cut", verified=True,
            )
        ],
        states,  # type: ignore[arg-type]
    )  # fmt: skip
    store.clock.set(NIGHT)
    report = reconciler.run_pass(NIGHT, prepared=prepared)
    assert report.ok and not report.planned_ahead
    assert sorted(r.change.line_id for r in report.results) == [1, 2, 3]


def _read(store: Store, name: str):
    device = next(d for d in store.devices() if d.name == name)
    with connect_driver(device, 10.0) as driver:
        return driver.read()


def test_a_router_unreachable_at_prepare_is_pushed_cold_at_the_instant(night):
    lab, store, _ = night
    reconciler = Reconciler(store, device_timeout=5.0)
    lab.set_fault("R2", refuse_connections=True)
    prepared = prepare(store, reconciler)
    assert prepared.prepared_devices == 1 and prepared.staged_lines == 2
    assert list(prepared.failed) == ["R2"] and "Unreachable" in prepared.failed["R2"]
    failed = [c for c in records(store, "staged") if not c.verified]
    assert failed == [], "nothing was staged on R2, nor claimed to be"
    lab.set_fault("R2", refuse_connections=False)
    store.clock.set(NIGHT)
    report = reconciler.run_pass(NIGHT, prepared=prepared)
    assert report.ok, report.failures
    assert report.bound_prepared == ["R1"] and report.pushed_cold == ["R2"]
    assert report.sessions["R2"] == "cold"
    assert cut_lines(lab, "R2") == LINES["R2"] and {
        r.state_after.value for r in report.results
    } == {"cut"}


def test_a_router_whose_prepare_fails_unexpectedly_is_pushed_cold_and_the_rest_prepared(night):
    """An error no driver answers with (the store timing out, a bug) while R2 is prepared
    fails R2's prepare alone; the pass pushes R2 cold."""
    lab, store, _ = night
    failing = {"R2"}

    def factory(device, timeout: float):
        if device.name in failing:
            raise RuntimeError("database is locked")
        return connect_driver(device, timeout)

    reconciler = Reconciler(store, driver_factory=factory)
    prepared = prepare(store, reconciler)
    assert prepared.prepared_devices == 1 and prepared.staged_lines == 2
    assert prepared.failed == {"R2": "prepare failed: RuntimeError: database is locked"}
    failing.clear()
    store.clock.set(NIGHT)
    report = reconciler.run_pass(NIGHT, prepared=prepared)
    assert report.ok and report.bound_prepared == ["R1"] and report.pushed_cold == ["R2"]
    assert cut_lines(lab, "R1") == LINES["R1"] and cut_lines(lab, "R2") == LINES["R2"]


def test_a_prepared_session_lost_before_the_instant_falls_back_to_a_cold_push(night):
    lab, store, _ = night
    reconciler = Reconciler(store, device_timeout=5.0)
    prepared = prepare(store, reconciler)
    assert prepared.prepared_devices == 2 and prepared.staged_lines == 4
    # 23:59: the routers reload (same addresses, same keys, their start-up configuration):
    # the prepared sessions are dead and the staged bodies gone
    specs = lab.specs
    lab.stop()
    reloaded = Lab(specs).start()
    try:
        assert owned(reloaded, "R1") == [] and owned(reloaded, "R2") == []
        store.clock.set(NIGHT)
        report = reconciler.run_pass(NIGHT, prepared=prepared)
        assert report.ok, report.failures
        assert set(report.sessions.values()) == {"cold after the prepared session was lost"}
        assert report.pushed_cold == ["R1", "R2"] and report.bound_prepared == []
        assert cut_lines(reloaded, "R1") == LINES["R1"] and cut_lines(reloaded, "R2") == LINES["R2"]
    finally:
        reloaded.stop()


def cut_then_prepare_the_morning(store: Store, reconciler: Reconciler):
    """Every line cut at midnight, then the 08:00 prepare; the clock at 08:00."""
    store.clock.set(NIGHT)
    assert reconciler.run_pass(NIGHT).ok
    morning = NIGHT + timedelta(hours=8)
    prepared = prepare(store, reconciler, morning)
    store.clock.set(morning)
    return morning, prepared


def test_the_restore_at_eight_runs_over_prepared_sessions_and_leaves_no_owned_object(night):
    lab, store, _ = night
    reconciler = Reconciler(store)
    morning, prepared = cut_then_prepare_the_morning(store, reconciler)
    # nothing to stage at 08:00: sessions opened and routers read, nothing written
    assert (prepared.prepared_devices, prepared.staged_lines) == (2, 0)
    assert records(store, "staged", "intent") == []
    # as each router is reported done, its restores have unbound the lines, bodies left
    seen: dict[str, tuple[list[str], list[str]]] = {}
    reconciler.progress = lambda device, *_: seen.setdefault(
        device, (bound(lab, device), owned(lab, device))
    )
    report = reconciler.run_pass(morning, prepared=prepared)
    assert report.ok, report.failures
    assert report.bound_prepared == ["R1", "R2"]
    assert {r.change.action.value for r in report.results} == {"restore"}
    assert {s.state for s in store.line_statuses().values()} == {"open"}
    for device in ("R1", "R2"):
        unbound, bodies = seen[device]
        assert unbound == [] and any(line.startswith("ip access-list") for line in bodies)
    # the instant sent only the unbindings; the bodies went after every router's
    restores = records(store, "restore")
    assert restores and not any(
        command.startswith("no ip") and "access-list" in command
        for change in restores
        for command in change.commands
    )
    unstaged = records(store, "unstaged")
    assert sorted(c.line_id for c in unstaged) == sorted(report.unstaged) == [1, 2, 3, 4]
    assert all(c.verified and any("access-list" in cmd for cmd in c.commands) for c in unstaged)
    assert {c.order_ids_json for c in unstaged} == {c.order_ids_json for c in restores}
    assert owned(lab, "R1") == [] and owned(lab, "R2") == []
    assert audit_verify(store).exit_code == 0


def test_a_router_frozen_before_the_bodies_go_keeps_them_and_nothing_is_logged_for_it(night):
    """The NOC freezes R1 while the 08:00 pass is still working: its restores are verified
    (unbound at the instant), but the deletion after the pass leaves a frozen router alone."""
    lab, store, _ = night
    reconciler = Reconciler(store)
    morning, prepared = cut_then_prepare_the_morning(store, reconciler)
    r1 = next(d.id for d in store.devices() if d.name == "R1")
    assert r1 is not None
    reconciler.progress = lambda device, *_: (
        device == "R1" and set_frozen(store, r1, True, "noc:test", "maintenance")
    )
    report = reconciler.run_pass(morning, prepared=prepared)
    assert report.ok and {s.state for s in store.line_statuses().values()} == {"open"}
    assert bound(lab, "R1") == [] and owned(lab, "R1"), "R1: unbound, its bodies kept"
    assert owned(lab, "R2") == []
    assert sorted(c.line_id for c in records(store, "unstaged")) == sorted(LINES["R2"])
    assert sorted(report.unstaged) == sorted(LINES["R2"])


def wait_for(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_the_scheduler_prepares_at_the_lead_and_the_transition_pass_binds_over_it(night):
    lab, store, _ = night
    # a clock at the real pace from 23:59:57, a lead of 2 s: prepare at 23:59:58, cut at 00:00
    clock = OffsetClock(NIGHT - timedelta(seconds=3))
    store.clock = clock
    passes: list[PassReport] = []
    scheduler = PassScheduler(
        Reconciler(store),
        clock,
        tick=timedelta(hours=1),
        on_pass=passes.append,
        prepare_lead=timedelta(seconds=2),
    )
    scheduler.start()
    try:
        wait_for(lambda: scheduler.next_transition is not None)
        assert scheduler.next_transition == NIGHT
        assert scheduler.prepare_at == NIGHT - timedelta(seconds=2)
        wait_for(lambda: any(p.results for p in passes))
        midnight = next(p for p in passes if p.results)
    finally:
        scheduler.shutdown()
    assert midnight.ok and midnight.bound_prepared == ["R1", "R2"] and midnight.at >= NIGHT
    # the scheduler's pass starts a little after the instant, and follows the plan made ahead
    assert midnight.planned_ahead
    assert scheduler.prepared is None
    staged = records(store, "staged")
    assert len(staged) == 4 and all(c.verified for c in staged)
    # staged from the lead on, before the cuts it prepared
    assert all(c.at >= NIGHT - timedelta(seconds=2) for c in staged)
    cuts = records(store, "cut")
    assert len(cuts) == 4 and min(c.seq for c in cuts) > max(c.seq for c in staged)
    assert all(not any("access-list" in c and "access-group" not in c for c in cut.commands)
               for cut in cuts)  # fmt: skip
    assert cut_lines(lab, "R1") == LINES["R1"] and cut_lines(lab, "R2") == LINES["R2"]


def test_a_stale_prepared_pass_is_discarded_when_another_instant_comes_first(night):
    lab, store, _ = night
    reconciler = Reconciler(store)
    prepared = prepare(store, reconciler)  # for 00:00
    assert prepared.staged_lines == 4
    # the orders are revoked after all: 00:00 brings no cut; the pass prepared is not used
    store.clock.set(NIGHT + timedelta(minutes=1))
    for order_id in [o.id for o in store.orders()]:
        revoke_order(store, order_id, "licence reinstated", "bureau:test")
    discarded = prepared.abandon(store.clock.now())
    assert discarded == 4 and prepared.open_sessions == 0
    assert owned(lab, "R1") == [] and owned(lab, "R2") == []
    assert len(records(store, "unstaged")) == 4


def test_a_pass_reaching_a_router_being_prepared_waits_for_it_instead_of_skipping_it(night):
    lab, store, _ = night
    reconciler = Reconciler(store)
    lab.set_fault("R1", latency_ms=60)  # R1's prepare takes a while: every command waits
    opened = lab.sessions_opened("R1") or 0
    store.clock.set(PREPARE_AT)
    done: list[PreparedPass] = []
    preparing = threading.Thread(target=lambda: done.append(Preparer(reconciler).prepare(NIGHT)))
    preparing.start()
    try:
        wait_for(lambda: (lab.sessions_opened("R1") or 0) > opened)  # R1 is being prepared
        store.clock.set(NIGHT)
        report = reconciler.run_pass(NIGHT)  # the instant, cold: it must not skip R1
    finally:
        preparing.join(timeout=60)
    assert not preparing.is_alive()
    assert report.skipped == [] and report.ok, (report.skipped, report.failures)
    assert {r.change.line_id for r in report.results} == {1, 2, 3, 4}
    assert cut_lines(lab, "R1") == LINES["R1"]
    done[0].close()


@pytest.mark.parametrize("lead", ["-1", "3601", "soon"])
def test_the_prepare_lead_setting_is_validated(lead, monkeypatch):
    monkeypatch.setenv("CURFEW_PREPARE_LEAD", lead)
    with pytest.raises(ValidationError, match="prepare_lead"):
        Settings()


@pytest.mark.parametrize("lead", ["-1", "21601", "soon"])
def test_the_arm_lead_setting_is_validated(lead, monkeypatch):
    monkeypatch.setenv("CURFEW_ARM_LEAD", lead)
    with pytest.raises(ValidationError, match="arm_lead"):
        Settings()


def test_the_arm_job_runs_at_its_lead_never_after_the_prepare_and_zero_arms_with_it(
    store: Store, monkeypatch
):
    reconciler = Reconciler(store)
    lead = timedelta(seconds=Settings().arm_lead)
    assert lead == timedelta(minutes=10)  # the default
    scheduler = PassScheduler(
        reconciler, store.clock, prepare_lead=timedelta(seconds=120), arm_lead=lead
    )
    scheduler._plan_arm(NIGHT)
    assert scheduler.arm_at == NIGHT - timedelta(minutes=10)
    # an arm lead shorter than the prepare's arms with the prepare's lead, first
    scheduler = PassScheduler(
        reconciler, store.clock, prepare_lead=timedelta(seconds=120), arm_lead=timedelta(seconds=30)
    )
    scheduler._plan_arm(NIGHT)
    assert scheduler.arm_at == NIGHT - timedelta(seconds=120)
    monkeypatch.setenv("CURFEW_ARM_LEAD", "0")
    lead = timedelta(seconds=Settings().arm_lead)
    scheduler = PassScheduler(
        reconciler, store.clock, prepare_lead=timedelta(seconds=120), arm_lead=lead
    )
    assert scheduler.arm_lead is None
    scheduler._plan_arm(NIGHT)
    assert scheduler.arm_at is None and scheduler.arm_wakes_at is None


def test_the_transition_pass_stops_an_arming_under_way_and_waits_for_its_routers(store: Store):
    """At the instant the arming still under way is told to start no more routers, and the
    transition pass waits for the routers being armed (the arming's lock) before it goes on."""
    scheduler = PassScheduler(
        Reconciler(store), store.clock, prepare_lead=timedelta(seconds=120),
        arm_lead=timedelta(minutes=10),
    )  # fmt: skip
    scheduler._plan_arm(NIGHT)
    stop = scheduler._arm_stop
    events: list[str] = []
    scheduler._arm_lock.acquire()  # an arming under way

    def finish_arming() -> None:
        stop.wait(timeout=10)
        events.append("arming ended")
        scheduler._arm_lock.release()

    armer = threading.Thread(target=finish_arming)
    armer.start()
    try:
        assert scheduler._take_prepared(NIGHT, NIGHT) is None  # nothing was prepared
        events.append("pass goes on")
    finally:
        armer.join(timeout=10)
    assert stop.is_set()
    assert events == ["arming ended", "pass goes on"]


def test_a_prepare_lead_of_zero_turns_prepare_off(store: Store, monkeypatch):
    monkeypatch.setenv("CURFEW_PREPARE_LEAD", "0")
    lead = timedelta(seconds=Settings().prepare_lead)
    scheduler = PassScheduler(Reconciler(store), store.clock, prepare_lead=lead)
    assert scheduler.prepare_lead is None
    scheduler._plan_prepare(NIGHT)
    assert scheduler.prepare_at is None and scheduler.prepare_wakes_at is None


def test_every_platform_prepares_and_binds_and_one_that_cannot_stage_applies(store: Store):
    """Junos, EOS, VRP and Comware stage and bind; an SNMP port has nothing to stage: its
    session is opened and read at the prepare and the pass applies over it."""
    platforms = ("juniper_junos", "arista_eos", "huawei_vrp", "h3c_comware", "snmp_ifadmin")
    specs, inventory = city(devices=len(platforms), lines_per_device=1, platforms=platforms)
    with Lab(specs) as lab:
        curfew_on_every_venue(store, lab, inventory)
        reconciler = Reconciler(store)
        prepared = prepare(store, reconciler)
        assert prepared.failed == {} and prepared.prepared_devices == 5
        assert prepared.staged_lines == 4  # all but the SNMP port's
        staged = records(store, "staged")
        assert len(staged) == 4 and all(c.verified for c in staged)
        assert {c.state for c in store.line_statuses().values()} == {"open"}
        store.clock.set(NIGHT)
        report = reconciler.run_pass(NIGHT, prepared=prepared)
        assert report.ok, report.failures
        assert report.bound_prepared == ["R1", "R2", "R3", "R4", "R5"]
        assert {r.state_after.value for r in report.results} == {"cut"}
        assert {c.state for c in store.line_statuses().values()} == {"cut"}


class Killed(BaseException):
    """The controller dying right after a router took the stage, before its outcome."""


def test_a_prepare_killed_mid_stage_leaves_states_alone_and_the_cut_resolves_its_intents(night):
    lab, store, _ = night

    def killed_after_stage(device, timeout):
        driver = connect_driver(device, timeout)
        real_stage = driver.stage

        def stage(batch):
            real_stage(batch)  # the router holds the bodies...
            raise Killed  # ...and the controller dies before it logs the outcome

        driver.stage = stage
        return driver

    store.clock.set(PREPARE_AT)
    with pytest.raises(Killed):
        Preparer(Reconciler(store, driver_factory=killed_after_stage), workers=1).prepare(NIGHT)
    orphans = interrupted_intents(store.engine)
    assert orphans and {o.action for o in orphans} == {"staged"}
    assert all(o.resolution == "unresolved" for o in orphans)
    # staging never touches a recorded state: nothing for the next pass to read first
    assert {s.state for s in store.line_statuses().values()} == {"open"}
    store.clock.set(NIGHT)
    report = Reconciler(store).run_pass(NIGHT)
    assert report.ok, report.failures
    resolved = interrupted_intents(store.engine)
    assert [o.seq for o in resolved] == [o.seq for o in orphans]
    assert {(o.resolution, o.resolved_action, o.resolved_state) for o in resolved} == {
        ("resolved", "cut", "cut")
    }
    assert audit_verify(store).exit_code == 0


def test_the_scheduler_abandons_a_prepare_made_stale_by_an_earlier_transition(night):
    """Prepared for 00:00; then a disconnect order starting at 23:59 makes 23:59 the next
    transition: the 00:00 prepare is discarded (logged) and 23:59 is prepared instead."""
    lab, store, _ = night
    clock = store.clock
    clock.set(PREPARE_AT)
    scheduler = PassScheduler(Reconciler(store), clock, prepare_lead=timedelta(minutes=2))
    scheduler._plan_prepare(NIGHT)
    assert scheduler.prepare_at == PREPARE_AT
    scheduler._prepare(NIGHT)
    assert scheduler.prepared is not None and scheduler.prepared.staged_lines == 4

    early = NIGHT - timedelta(minutes=1)
    clock.set(PREPARE_AT + timedelta(seconds=10))
    issue_order(
        store,
        OrderCreate(venue="Venue R2-1", kind="disconnect", reason="unlicensed",
                    legal_basis="临兰文执发〔2018〕3号", effective_from=early),
        "bureau:test",
    )  # fmt: skip
    scheduler._plan_prepare(early)
    scheduler._prepare(early)
    prepared = scheduler.prepared
    assert prepared is not None and prepared.instant == early and prepared.staged_lines == 1
    unstaged = records(store, "unstaged")
    assert sorted(c.line_id for c in unstaged) == [1, 2, 4]  # line 3 is staged again for 23:59
    assert all(c.verified for c in unstaged)
    assert not any("CURFEW-L1" in line for line in owned(lab, "R1"))
    # the pass at 23:59 takes it: line 3 bound over its session, nothing else changed
    clock.set(early)
    scheduler._pass(transition=early)
    report = scheduler.last_report
    assert report is not None and report.ok and report.bound_prepared == ["R2"]
    assert [r.change.line_id for r in report.results] == [3]
    assert scheduler.prepared is None and prepared.open_sessions == 0
    scheduler.shutdown()


def test_a_prepared_session_whose_router_stopped_answering_is_dropped_and_pushed_cold(night):
    """`keepalive: "1"` over asyncssh: R1's SSH process hangs (TCP up) after the prepare, so
    its session answers no keepalive and is dropped before the instant; R1 recovers, and the
    pass finds the session dead and pushes R1 in a new session, R2 over its prepared one."""
    lab, store, _ = night
    _, inventory = city(devices=2, lines_per_device=2)
    document = lab.inventory(inventory)
    for device in document["devices"]:
        device["options"] = {"session": "asyncssh", "keepalive": "1"}
    import_document(store, document, "lab city, asyncssh sessions kept alive")
    reconciler = Reconciler(store, device_timeout=5.0)
    prepared = prepare(store, reconciler)
    assert (prepared.prepared_devices, prepared.failed) == (2, {})
    sessions = {s.device.name: s for s in prepared._sessions.values()}  # type: ignore[attr-defined]
    lab.set_fault("R1", mute=True)
    deadline = time.monotonic() + 15
    while sessions["R1"].driver._cli.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not sessions["R1"].driver._cli.alive()
    assert sessions["R2"].driver._cli.alive()  # answered its keepalives
    lab.set_fault("R1", mute=False)
    store.clock.set(NIGHT)
    report = reconciler.run_pass(NIGHT, prepared=prepared)
    assert report.ok, report.failures
    assert report.sessions == {"R1": "cold after the prepared session was lost", "R2": "prepared"}
    assert cut_lines(lab, "R1") == LINES["R1"] and cut_lines(lab, "R2") == LINES["R2"]


def test_the_prepare_s_records_are_queued_never_two_writes_at_once(store, monkeypatch):
    """Six routers prepared at once: their staging records are written in shared
    transactions, one at a time, queued in the process. SQLite's own busy wait polls and
    queues nobody: at 256 routers at once some prepares waited past its 30 s and were pushed
    cold. Each write here takes 50 ms, as under load."""
    specs, inventory = city(devices=6, lines_per_device=1)
    with Lab(specs) as lab:
        curfew_on_every_venue(store, lab, inventory)
        in_flight, most = 0, 0
        guard = threading.Lock()
        commit_records = Store.commit_records

        def slow_and_counted(self: Store, *args, **kwargs):
            nonlocal in_flight, most
            with guard:
                in_flight += 1
                most = max(most, in_flight)
            try:
                time.sleep(0.05)
                return commit_records(self, *args, **kwargs)
            finally:
                with guard:
                    in_flight -= 1

        monkeypatch.setattr(Store, "commit_records", slow_and_counted)
        store.clock.set(PREPARE_AT)
        with Preparer(Reconciler(store), workers=6).prepare(NIGHT) as prepared:
            assert (prepared.prepared_devices, prepared.staged_lines, prepared.failed) == (
                6, 6, {},
            )  # fmt: skip
        assert most == 1
        staged = records(store, "staged")
        assert len(staged) == 6 and all(c.verified for c in staged)

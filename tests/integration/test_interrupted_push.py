"""A push interrupted after its intents (the controller dies mid-push) never leaves a line cut
past its window: the intent makes the line's state unknown, the next pass reads the router,
and the log shows how every intent without an outcome was resolved."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from typer.testing import CliRunner

from api.cli import app
from controller.interrupted import interrupted_intents
from controller.inventory import import_document
from controller.orders import OrderCreate, issue_order
from controller.reconciler import Reconciler, connect_driver
from controller.store import Store
from drivers.base import LineState
from lab.topology import Lab, city
from tests.conftest import SHANGHAI

pytestmark = pytest.mark.lab

NIGHT = datetime(2026, 11, 25, tzinfo=SHANGHAI)


class Killed(BaseException):
    """The controller process dying right after a router took the push: nothing below it
    (no outcome, no state) is written. A BaseException, as SIGKILL obeys no handler."""


def killed_after_push(device, timeout):
    driver = connect_driver(device, timeout)
    real_apply = driver.apply

    def apply(batch):
        real_apply(batch)  # the router is changed...
        raise Killed  # ...and the controller dies before it logs the outcome

    driver.apply = apply
    return driver


def audit_verify(store: Store):
    url = store.engine.url.render_as_string(hide_password=False)
    return CliRunner().invoke(app, ["audit", "verify"], env={"CURFEW_DATABASE_URL": url})


def owned(lab: Lab, device: str) -> list[str]:
    return [ln for ln in lab.router(device).running_config().splitlines() if "CURFEW" in ln]


@pytest.fixture
def night(store: Store):
    specs, inventory = city(devices=2, lines_per_device=2)
    with Lab(specs) as lab:
        import_document(store, lab.inventory(inventory), "lab city")
        for venue in store.venues():
            issue_order(
                store,
                OrderCreate(venue=venue.name, kind="curfew", reason="after_hours",
                            legal_basis="临兰文执发〔2018〕3号",
                            effective_from=NIGHT - timedelta(days=7)),
                "bureau:test",
            )  # fmt: skip
        yield lab, store


def run(store: Store, at: datetime, **kwargs):
    store.clock.set(at)
    return Reconciler(store, **kwargs).run_pass(at)


def test_a_push_killed_at_midnight_is_restored_by_the_next_pass_and_accounted_for(night):
    lab, store = night
    # the night before: cut and restored, every line recorded open
    assert run(store, NIGHT - timedelta(days=1, seconds=-5)).ok
    assert run(store, NIGHT - timedelta(hours=16, seconds=-5)).ok
    assert {s.state for s in store.line_statuses().values()} == {"open"}

    # tonight's midnight pass dies after the routers took the cuts, before any outcome
    with pytest.raises(Killed):
        run(store, NIGHT + timedelta(seconds=5), driver_factory=killed_after_push, workers=1)
    pushed = [d for d in ("R1", "R2") if owned(lab, d)]
    assert pushed, "the interrupted pass cut at least one router"
    orphans = interrupted_intents(store.engine)
    assert orphans and all(o.resolution == "unresolved" for o in orphans)
    # write-ahead: each intent made its line's state unknown, never left it "open"
    statuses = store.line_statuses()
    assert {statuses[o.line_id].state for o in orphans} == {LineState.UNKNOWN.value}

    # the auditor is told: the chain is whole, but these pushes' outcomes are unknown
    verified = audit_verify(store)
    assert "intents have no outcome and nothing verified their lines since" in verified.output
    assert "NOT PROVEN" in verified.output and verified.exit_code == 0

    # 08:20: the first pass reads and restores every router that was cut
    report = run(store, NIGHT + timedelta(hours=8, minutes=20))
    assert report.ok, report.failures
    assert [d for d in ("R1", "R2") if owned(lab, d)] == []
    assert {s.state for s in store.line_statuses().values()} == {"open"}
    # the routers with unknown lines were worked first
    assert report.batches[0].unknown > 0

    # the log accounts for each orphaned intent: the restore that resolved it
    resolved = interrupted_intents(store.engine)
    assert [o.seq for o in resolved] == [o.seq for o in orphans]
    assert all(o.resolution == "resolved" for o in resolved)
    assert all(o.resolved_state == "open" for o in resolved)
    later = [c for c in store.changes() if c.kind == "intent" and c.seq > orphans[-1].seq]
    intents = {c.line_id: c for c in later}
    for orphan in orphans:
        assert f"resolves intent {orphan.seq}" in intents[orphan.line_id].detail
    after = audit_verify(store)
    assert "intents have no outcome and nothing verified" not in after.output
    assert f"{len(orphans)} intents have no outcome (interrupted pushes)" in after.output


def test_the_first_pass_on_a_new_line_records_a_read_not_a_restore(store: Store):
    specs, inventory = city(devices=1, lines_per_device=2)
    with Lab(specs) as lab:
        import_document(store, lab.inventory(inventory), "lab city")
        report = run(store, NIGHT - timedelta(hours=12))
        assert report.ok, report.failures
    actions = [(c.kind, c.action) for c in store.changes() if c.kind in ("intent", "outcome")]
    # the router held nothing of the lines: nothing was sent, so nothing was written ahead
    assert actions == [("outcome", "read")] * 2
    outcomes = [c for c in store.changes() if c.kind == "outcome"]
    assert all(c.intent_seq is None and c.verified and not c.commands for c in outcomes)

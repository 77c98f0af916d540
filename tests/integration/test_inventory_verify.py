"""`curfew inventory verify` against lab routers: a line on the wrong interface and a prefix
routed elsewhere are found, reported and blocked; the planner refuses to cut them until fixed."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

import pytest
from typer.testing import CliRunner

from api.cli import app
from controller.inventory import import_document
from controller.orders import OrderCreate, issue_order
from controller.reconciler import Reconciler, connect_driver
from controller.store import ChangeFilter, Store
from controller.verification import verify_inventory
from drivers.base import LineState
from lab.topology import Lab, city
from tests.conftest import SHANGHAI

pytestmark = pytest.mark.lab
NIGHT = datetime(2026, 11, 25, tzinfo=SHANGHAI)


@pytest.fixture
def lab_city():
    specs, inventory = city(devices=1, lines_per_device=3)
    with Lab(specs) as lab:
        yield lab, lab.inventory(inventory)


def test_wrong_rows_are_blocked_until_the_inventory_is_fixed(store: Store, lab_city):
    lab, good = lab_city
    wrong = copy.deepcopy(good)
    wrong["lines"][0]["interface"] = "GigabitEthernet0/2"  # R1-L1 is really on Gi0/1
    wrong["lines"][2]["prefixes"] = ["198.19.200.0/24"]  # routed nowhere on R1
    import_document(store, wrong, "wrong rows")
    for number, venue in enumerate(v.name for v in store.venues()):
        request = OrderCreate(
            venue=venue,
            kind="curfew",
            reason="after_hours",
            legal_basis=f"临兰文执发〔2026〕{number + 1}号",
            effective_from=NIGHT - timedelta(days=1),
        )
        issue_order(store, request, "bureau:test")

    checks = {c.line: c for c in verify_inventory(store, connect_driver, timeout=5)}
    assert checks["R1-L2"].ok is True
    assert checks["R1-L1"].ok is False
    assert "routed via GigabitEthernet0/1, not GigabitEthernet0/2" in checks["R1-L1"].problems[0]
    assert checks["R1-L3"].ok is False
    assert checks["R1-L3"].problems == ("198.19.200.0/24 is not routed on the device",)

    plan, batches = Reconciler(store).diff(NIGHT + timedelta(hours=1))
    by_name = {ln.name: ln.id for ln in store.lines()}
    assert plan.lines[by_name["R1-L2"]].desired is LineState.CUT
    for name in ("R1-L1", "R1-L3"):
        refused = plan.lines[by_name[name]]
        assert refused.desired is LineState.OPEN and refused.order_ids and refused.blocked
    report = Reconciler(store).run_pass(NIGHT + timedelta(hours=1))
    assert report.ok
    config = lab.router("R1").running_config()
    assert f"CURFEW-L{by_name['R1-L2']} in" in config
    assert (
        f"CURFEW-L{by_name['R1-L1']} " not in config
        and f"CURFEW-L{by_name['R1-L3']} " not in config
    )
    blocked_log = store.changes(ChangeFilter(kinds=("admin",)))
    assert sum(1 for c in blocked_log if c.action == "line_blocked") == 2

    import_document(store, good, "fixed rows")
    checks = verify_inventory(store, connect_driver, timeout=5)
    assert all(c.ok for c in checks)
    plan, _ = Reconciler(store).diff(NIGHT + timedelta(hours=2))
    assert all(p.desired is LineState.CUT for p in plan.lines.values())


def test_the_cli_reports_and_exits_non_zero_on_a_mismatch(tmp_path, lab_city):
    _, good = lab_city
    wrong = copy.deepcopy(good)
    wrong["lines"][1]["interface"] = "GigabitEthernet0/3"
    url = f"sqlite:///{tmp_path / 'verify.db'}"
    store = Store.open(url)
    import_document(store, wrong, "wrong row")
    store.close()
    result = CliRunner().invoke(app, ["inventory", "verify"], env={"CURFEW_DATABASE_URL": url})
    assert result.exit_code == 1
    assert "BLOCKED" in result.output and "R1-L2" in result.output
    assert "3 lines: 1 blocked, 0 not checked" in result.output

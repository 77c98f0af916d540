"""The shipped mixed-vendor topology starts, imports and goes through a night's first cut —
including its deliberate fault: one router refuses one line's IPv6 binding."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from controller.inventory import import_document
from controller.orders import OrderCreate, issue_order
from controller.reconciler import Reconciler
from controller.store import Store
from lab.topology import Lab, load_topology
from tests.conftest import SHANGHAI

pytestmark = pytest.mark.lab
TOPOLOGY = Path(__file__).parents[2] / "lab" / "topologies" / "mixed-city.yaml"


def test_the_mixed_city_topology_runs_a_pass_on_every_platform(store: Store):
    specs, inventory = load_topology(TOPOLOGY)
    assert {s.platform for s in specs} == {
        "cisco_ios", "huawei_vrp", "h3c_comware", "juniper_junos", "arista_eos",
    }  # fmt: skip
    night = datetime(2026, 11, 25, tzinfo=SHANGHAI)
    with Lab(specs) as lab:
        import_document(store, lab.inventory(inventory), str(TOPOLOGY))
        for number, venue in enumerate(v.name for v in store.venues()):
            request = OrderCreate(
                venue=venue,
                kind="curfew",
                reason="after_hours",
                legal_basis=f"兰文执发〔2026〕{number + 1}号",
                effective_from=night - timedelta(days=1),
            )
            issue_order(store, request, "bureau:test")
        report = Reconciler(store).run_pass(night + timedelta(minutes=1))
    failed = {r.change.line_id for r in report.results if not r.verified}
    names = {ln.id: ln.name for ln in store.lines()}
    assert {names[i] for i in failed} == {"R3-L2"}, "only the line whose binding R3 refuses"
    assert len(report.results) == 10

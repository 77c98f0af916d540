"""Two controller processes reconcile the same midnight on one database: every line is cut
exactly once, each router by one instance, and the log names the instance that did it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from controller.clock import SimulatedClock
from controller.inventory import import_document
from controller.orders import OrderCreate, issue_order
from controller.store import Store
from lab.topology import Lab, city
from tests.conftest import SHANGHAI

pytestmark = pytest.mark.lab

CURFEW = [str(Path(sys.executable).with_name("curfew"))]
NIGHT = datetime(2026, 11, 25, tzinfo=SHANGHAI)
DEVICES, LINES = 4, 2


def test_two_reconcile_processes_at_midnight_cut_each_line_once(
    database_url: str, clock: SimulatedClock
) -> None:
    specs, inventory = city(devices=DEVICES, lines_per_device=LINES)
    with Lab(specs) as lab:
        for spec in lab.specs:
            lab.set_fault(spec.name, latency_ms=20)  # the two passes overlap in time
        store = Store.open(database_url, clock=clock)
        store.declare_kind("lab", "test")  # `reconcile --at` runs only on a lab store
        import_document(store, lab.inventory(inventory), "lab city")
        for venue in store.venues():
            issue_order(
                store,
                OrderCreate(venue=venue.name, kind="curfew", reason="after_hours",
                            legal_basis="临兰文执发〔2018〕3号",
                            effective_from=NIGHT - timedelta(days=1)),
                "bureau:test",
            )  # fmt: skip
        at = (NIGHT + timedelta(seconds=5)).isoformat()
        processes = []
        for name in ("east", "west"):
            env = dict(os.environ, CURFEW_DATABASE_URL=database_url, CURFEW_INSTANCE=name)
            processes.append(
                subprocess.Popen(
                    [*CURFEW, "reconcile", "--at", at],
                    env=env,
                    text=True,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )  # fmt: skip
            )
        outputs = []
        try:
            for process in processes:
                out, err = process.communicate(timeout=120)
                outputs.append(out + err)
                assert process.returncode == 0, out + err
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=10)

        cuts = [
            c for c in store.changes()
            if c.kind == "outcome" and c.action == "cut" and json.loads(c.commands_json)
        ]  # fmt: skip
        assert sorted(c.line_id for c in cuts) == sorted(line.id for line in store.lines())
        assert all(c.verified for c in cuts)
        by_device: dict[int, set[str]] = {}
        for cut in cuts:
            by_device.setdefault(cut.device_id, set()).add(cut.actor)
        assert all(len(actors) == 1 for actors in by_device.values()), by_device
        assert {a for actors in by_device.values() for a in actors} <= {
            "reconciler@east", "reconciler@west"
        }  # fmt: skip
        for spec in lab.specs:
            config = lab.router(spec.name).running_config()
            assert config.count("ip access-group CURFEW") == 2 * LINES, spec.name
        store.close()

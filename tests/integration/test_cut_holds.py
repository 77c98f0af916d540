"""The blast-radius guard: a feed that suddenly orders ten times last night's cuts is held for
the NOC; the restores of the same pass go ahead; after approval the cuts are pushed, and the
log shows the hold and the approval."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from api.app import create_app
from controller import feeds
from controller.audit import public_hex
from controller.holds import CutBounds, holds
from controller.inventory import import_document
from controller.orders import OrderCreate, issue_order, revoke_order
from controller.reconciler import Reconciler
from controller.settings import Settings
from controller.store import Store
from lab.topology import Lab, city
from tests.conftest import ADMIN_TOKEN, SHANGHAI

pytestmark = pytest.mark.lab

NIGHT = datetime(2026, 11, 25, tzinfo=SHANGHAI)  # night 2's midnight
BOUNDS = CutBounds(limit=1000, growth=5.0)


def venue_names(store: Store) -> list[str]:
    return sorted(v.name for v in store.venues())


def cut_lines(lab: Lab, devices: list[str]) -> set[str]:
    """Owned ACLs bound on the routers: which lines the network holds cut."""
    found = set()
    for device in devices:
        for line in lab.router(device).running_config().splitlines():
            if line.strip().startswith("ip access-group CURFEW-L") and line.endswith(" in"):
                found.add(line.split()[2])
    return found


def feed_of(store: Store, tmp_path, key: Ed25519PrivateKey, venues: list[str]) -> int:
    """A bureau's signed feed, published as a file, ordering a curfew on each venue."""
    document = json.dumps(
        {"format": "curfew-feed/1", "authority": "city-bureau", "sequence": 1,
         "published_at": "2026-11-24T20:00:00+08:00",
         "orders": [
             {"id": f"F-{i}", "action": "issue", "venue": name, "kind": "curfew",
              "reason": "after_hours", "legal_basis": f"临兰文执发〔2026〕{i}号",
              "effective_from": "2026-11-24T12:00:00+08:00"}
             for i, name in enumerate(venues, start=1)
         ]},
        ensure_ascii=False,
    )  # fmt: skip
    path = tmp_path / "orders.signed.json"
    path.write_text(feeds.sign_document(key, document), encoding="utf-8")
    feeds.add_key(store, "city-bureau", public_hex(key.public_key()), actor="test")
    return feeds.add_feed(store, "city-bureau", str(path), 60, actor="test").id


def test_ten_times_last_nights_cuts_are_held_restores_go_and_approval_releases_them(
    store: Store, tmp_path
):
    specs, inventory = city(devices=3, lines_per_device=4)
    with Lab(specs) as lab:
        routers = [s.name for s in specs]
        import_document(store, lab.inventory(inventory), "lab city")
        names = venue_names(store)
        reconciler = Reconciler(store, actor="reconciler@test", cut_bounds=BOUNDS)

        def run(at: datetime):
            store.clock.set(at)
            return reconciler.run_pass(at)

        # night 1: one curfew (1 cut at midnight) and one disconnect, in force all day
        issue_order(store, OrderCreate(venue=names[0], kind="curfew", reason="after_hours",
                    legal_basis="临兰文执发〔2026〕1号",
                    effective_from=NIGHT - timedelta(days=3)), "bureau:test")  # fmt: skip
        disconnect = issue_order(
            store,
            OrderCreate(venue=names[1], kind="disconnect", reason="unlicensed",
                        legal_basis="临兰文执发〔2026〕2号",
                        effective_from=NIGHT - timedelta(days=3)),
            "bureau:test",
        )  # fmt: skip
        assert run(NIGHT - timedelta(days=1, hours=1)).ok  # the disconnect's cut, at 23:00
        assert run(NIGHT - timedelta(days=1, seconds=-5)).ok  # 00:00: the curfew's one cut
        assert run(NIGHT - timedelta(hours=16, seconds=-5)).ok  # 08:00 restore
        assert cut_lines(lab, routers) == {"CURFEW-L2"}

        # night 2: the bureau's feed orders ten more curfews; the disconnect is lifted
        store.clock.set(NIGHT - timedelta(hours=3))  # 21:00, after the feed's publication
        feed_id = feed_of(store, tmp_path, Ed25519PrivateKey.generate(), names[2:])
        pulled = feeds.pull_feed(store, feed_id)
        assert pulled.changed, (pulled.outcome, pulled.reason, pulled.code)
        revoke_order(store, disconnect.id, "licence restored", "bureau:test")
        held = run(NIGHT + timedelta(seconds=5))

        # the cuts wait; the restore went ahead
        assert held.held is not None and held.ok
        hold = held.held
        assert (hold.cuts, hold.previous, hold.status) == (11, 1, "pending")
        assert "11.0 times the 1 verified" in hold.reason
        assert cut_lines(lab, routers) == set()  # L2 restored, nothing new cut
        assert [r.change.action.value for r in held.results] == ["restore"]
        # later passes of the night hold the same cuts without a new hold
        again = run(NIGHT + timedelta(minutes=1))
        assert again.held is not None and again.held.id == hold.id and not again.results
        assert len(holds(store)) == 1

        # the NOC approves over the API; the next pass pushes the cuts
        app = create_app(Settings(admin_token=ADMIN_TOKEN), store, None)
        with TestClient(app) as client:
            auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            listed = client.get("/api/v1/holds?status=pending", headers=auth)
            assert [h["id"] for h in listed.json()] == [hold.id]
            approved = client.post(f"/api/v1/holds/{hold.id}/approve", headers=auth,
                                   json={"note": "feed checked with the bureau"})  # fmt: skip
            assert approved.status_code == 200, approved.text
            assert approved.json()["status"] == "approved"
            twice = client.post(f"/api/v1/holds/{hold.id}/approve", headers=auth, json={})
            assert twice.status_code == 409
        released = run(NIGHT + timedelta(minutes=2))
        assert released.held is None and released.ok
        assert len(cut_lines(lab, routers)) == 11

        log = [(c.action, c.detail) for c in store.changes() if c.kind == "admin"]
        actions = [a for a, _ in log]
        assert actions.count("cuts_held") == 1 and actions.count("cuts_approved") == 1
        assert actions.index("cuts_held") < actions.index("cuts_approved")
        held_detail = next(d for a, d in log if a == "cuts_held")
        assert "would cut 11 lines (1 the night before)" in held_detail
        assert "feed checked with the bureau" in next(d for a, d in log if a == "cuts_approved")


def test_a_pass_within_the_bounds_is_not_held(store: Store):
    specs, inventory = city(devices=1, lines_per_device=3)
    with Lab(specs) as lab:
        import_document(store, lab.inventory(inventory), "lab city")
        for name in venue_names(store):
            issue_order(store, OrderCreate(venue=name, kind="curfew", reason="after_hours",
                        legal_basis="临兰文执发〔2026〕1号",
                        effective_from=NIGHT - timedelta(days=3)), "bureau:test")  # fmt: skip
        reconciler = Reconciler(store, cut_bounds=CutBounds(limit=3, growth=5.0))
        store.clock.set(NIGHT + timedelta(seconds=5))
        report = reconciler.run_pass(NIGHT + timedelta(seconds=5))
        assert report.held is None and report.ok
        assert len(cut_lines(lab, ["R1"])) == 3
        assert holds(store) == []

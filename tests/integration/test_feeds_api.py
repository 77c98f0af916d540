"""Feeds and bureau keys over HTTP: an admin registers them, the NOC watches and pulls."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from api.app import create_app
from controller import feeds
from controller.audit import public_hex
from controller.settings import Settings
from controller.store import Store
from controller.tokens import create_token
from tests.conftest import ADMIN_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_an_admin_registers_a_key_and_a_feed_and_the_noc_pulls_it(city_store: Store, tmp_path):
    key = Ed25519PrivateKey.generate()
    document = json.dumps(
        {"format": "curfew-feed/1", "authority": "city-bureau", "sequence": 1,
         "published_at": "2026-11-24T20:00:00+08:00",
         "orders": [{"id": "2026-31", "action": "issue", "venue": "网吧 One", "kind": "curfew",
                     "reason": "after_hours", "legal_basis": "临兰文执发〔2026〕31号",
                     "effective_from": "2026-11-25T00:00:00+08:00"}]},
        ensure_ascii=False,
    )  # fmt: skip
    published = tmp_path / "orders.json"
    published.write_text(feeds.sign_document(key, document), encoding="utf-8")
    noc = {"Authorization": f"Bearer {create_token(city_store, 'noc', 'test')[1]}"}
    settings = Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings, city_store)) as client:
        bad_key = client.post(
            "/api/v1/authority-keys", json={"authority": "city-bureau", "public_key": "zz"},
            headers=ADMIN,
        )  # fmt: skip
        assert bad_key.status_code == 422
        added = client.post(
            "/api/v1/authority-keys",
            json={"authority": "city-bureau", "public_key": public_hex(key.public_key())},
            headers=ADMIN,
        )
        assert added.status_code == 201, added.text
        feed = client.post(
            "/api/v1/feeds", json={"authority": "city-bureau", "source": str(published)},
            headers=ADMIN,
        )  # fmt: skip
        assert feed.status_code == 201, feed.text
        assert client.post("/api/v1/feeds", json={}, headers=noc).status_code == 403

        pulled = client.post(f"/api/v1/feeds/{feed.json()['id']}/pull", headers=noc)
        assert pulled.status_code == 200, pulled.text
        assert pulled.json()["outcome"] == "applied"
        assert [e["result"] for e in pulled.json()["entries"]] == ["issued"]
        again = client.post(f"/api/v1/feeds/{feed.json()['id']}/pull", headers=noc).json()
        assert again["outcome"] == "unchanged"
        listed = client.get("/api/v1/feeds", headers=noc).json()
        assert listed[0]["last_sequence"] == 1 and listed[0]["last_error"] is None
        revoked = client.post(f"/api/v1/authority-keys/{added.json()['id']}/revoke", headers=ADMIN)
        assert revoked.json()["revoked_at"] is not None
        assert client.post("/api/v1/feeds/999/pull", headers=noc).status_code == 404
    assert [o.external_id for o in city_store.orders()] == ["2026-31"]

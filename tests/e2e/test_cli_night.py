"""End to end through the real commands: `curfew lab up`, `curfew serve`, an order over HTTP,
`curfew reconcile --at`, a plain netmiko login to the router, `curfew changes --format json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from netmiko import ConnectHandler

from controller.audit import generate_key
from tests.conftest import ADMIN_TOKEN, SQLITE_ONLY
from tests.e2e.processes import free_port, stop, wait_until

pytestmark = pytest.mark.lab

CURFEW = [str(Path(sys.executable).with_name("curfew"))]  # the installed console script





def running_config(connection: dict) -> list[str]:
    with ConnectHandler(**connection, fast_cli=True) as session:
        session.enable()
        text = session.send_command("show running-config")
    # the size header changes with the config; everything after it is the configuration
    return [
        ln for ln in text.splitlines() if not ln.startswith(("Building", "Current configuration"))
    ]


def without_owned(config: list[str]) -> list[str]:
    """The config with the controller's own ACL blocks (and their `!`) and bindings removed."""
    kept: list[str] = []
    skipping = False
    for line in config:
        if line.startswith(("ip access-list extended CURFEW", "ipv6 access-list CURFEW")):
            skipping = True
            continue
        if skipping:
            if line == "!":
                skipping = False
            continue
        if line.startswith(" ") and "CURFEW" in line:
            continue
        kept.append(line)
    return kept


@pytest.fixture
def environment(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The processes' environment; its log signed (`serve` will not run without a signing
    key)."""
    key = tmp_path / "signing.pem"
    generate_key(key)
    env = dict(os.environ)
    env.update(
        CURFEW_DATABASE_URL=database_url,
        CURFEW_ADMIN_TOKEN=ADMIN_TOKEN,
        CURFEW_SIGNING_KEY_FILE=str(key),
        PYTHONUNBUFFERED="1",
    )
    return env


def curfew(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CURFEW, *args], env=env, capture_output=True, text=True, timeout=120)


# SQLite only, to keep the suite within its time: the killed-pass e2e runs the same night's
# commands (reconcile, serve, the report) on PostgreSQL
@SQLITE_ONLY
def test_an_order_over_the_api_is_cut_at_midnight_and_restored_at_eight(tmp_path, environment):
    inventory_file = tmp_path / "lab.yaml"
    lab = subprocess.Popen(
        [*CURFEW, "lab", "up", "--devices", "2", "--lines-per-device", "3",
         "--inventory-out", str(inventory_file)],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    port = free_port()
    server = None
    try:
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while len(seen) < 2 and time.monotonic() < deadline:
            line = lab.stdout.readline()
            if not line:
                break
            if "cisco_ios 127.0.0.1:" in line:
                seen.append(line)
        assert len(seen) == 2, f"lab did not come up: {seen}"
        created = curfew(environment, "store", "init", "--lab")
        assert created.returncode == 0, created.stderr
        assert "lab store" in created.stdout
        imported = curfew(environment, "inventory", "import", str(inventory_file))
        assert imported.returncode == 0, imported.stderr

        server = subprocess.Popen(
            [*CURFEW, "serve", "--port", str(port), "--no-scheduler"],
            env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, 60, "curfew serve")

        inventory = yaml.safe_load(inventory_file.read_text(encoding="utf-8"))
        device = next(d for d in inventory["devices"] if d["name"] == "R2")
        connection = {
            "device_type": "cisco_ios",
            "host": device["host"],
            "port": device["port"],
            "username": device["username"],
            "password": device["password"],
            "secret": device["secret"],
        }
        before = running_config(connection)

        response = httpx.post(
            f"{base}/api/v1/orders",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            json={
                "venue": "Venue R2-2",
                "kind": "curfew",
                "reason": "after_hours",
                "legal_basis": "临兰文执发〔2018〕3号",
                "effective_from": "2026-11-24T00:00:00+08:00",
            },
            timeout=10,
        )
        assert response.status_code == 201, response.text
        order_id = response.json()["id"]

        cut = curfew(environment, "reconcile", "--at", "2026-11-25T00:00:05+08:00")
        assert cut.returncode == 0, cut.stdout + cut.stderr
        # progress per router on stderr: R1 is read once (its lines' state was unknown), R2 cut
        assert "R2: 3 of 3 verified" in cut.stderr and "[2/2]" in cut.stderr
        after_cut = running_config(connection)
        line_id = next(
            i for i, ln in enumerate(inventory["lines"], start=1) if ln["venue"] == "Venue R2-2"
        )
        added = [ln for ln in after_cut if ln not in before]
        removed = [ln for ln in before if ln not in after_cut]
        assert removed == []
        owned_v4, owned_v6 = f"CURFEW-L{line_id}", f"CURFEW6-L{line_id}"
        assert f" ip access-group {owned_v4} in" in added
        assert f" ip access-group {owned_v4} out" in added
        assert f" ipv6 traffic-filter {owned_v6} in" in added
        assert f" ipv6 traffic-filter {owned_v6} out" in added
        assert f"ip access-list extended {owned_v4}" in added
        assert f"ipv6 access-list {owned_v6}" in added
        # nothing but the owned objects changed: drop them and the rest is the old config
        interface = next(
            ln["interface"] for ln in inventory["lines"] if ln["venue"] == "Venue R2-2"
        )
        binding_index = after_cut.index(f" ip access-group {owned_v4} in")
        assert f"interface {interface}" in after_cut[:binding_index]
        assert without_owned(after_cut) == before

        restore = curfew(environment, "reconcile", "--at", "2026-11-25T08:00:05+08:00")
        assert restore.returncode == 0, restore.stdout + restore.stderr
        assert running_config(connection) == before

        listed = curfew(environment, "changes", "--order", str(order_id), "--format", "json")
        assert listed.returncode == 0, listed.stderr
        records = json.loads(listed.stdout)
        outcomes = [r for r in records if r["kind"] == "outcome"]
        assert [r["action"] for r in outcomes] == ["cut", "restore"]
        assert all(r["order_ids"] == [order_id] and r["verified"] for r in outcomes)
        assert [r["state_after"] for r in outcomes] == ["cut", "open"]
    finally:
        if server is not None:
            stop(server)
        stop(lab)

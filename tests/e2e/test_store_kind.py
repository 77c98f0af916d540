"""What a store is for: a production store runs passes only at the real time, a lab store at
any instant; a command that only reads never creates a store by mistake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from controller.store import Store
from tests.conftest import ADMIN_TOKEN, SMALL_CITY
from tests.e2e.processes import issue_orders

CURFEW = [str(Path(sys.executable).with_name("curfew"))]
AT = "2026-11-25T00:00:05+08:00"


def curfew(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CURFEW, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return dict(os.environ, CURFEW_DATABASE_URL=database_url, CURFEW_ADMIN_TOKEN=ADMIN_TOKEN)


@pytest.fixture
def inventory_file(tmp_path: Path) -> Path:
    path = tmp_path / "city.yaml"
    path.write_text(yaml.safe_dump(SMALL_CITY, allow_unicode=True), encoding="utf-8")
    return path


def order(env: dict[str, str]) -> None:
    """A curfew order on every venue, issued through the CLI's own store."""
    issue_orders(env["CURFEW_DATABASE_URL"])


def outcome_records(url: str) -> list[tuple[str, str, bool | None]]:
    store = Store.open(url)
    try:
        return [
            (c.kind, c.action, c.verified)
            for c in store.changes()
            if c.kind in ("intent", "outcome")
        ]
    finally:
        store.close()


def test_reconcile_at_another_instant_is_refused_on_a_production_store(env, inventory_file):
    assert curfew(env, "inventory", "import", str(inventory_file)).returncode == 0
    order(env)

    refused = curfew(env, "reconcile", "--at", AT)
    assert refused.returncode == 2
    assert "production store" in refused.stderr and "store init --lab" in refused.stderr
    assert outcome_records(env["CURFEW_DATABASE_URL"]) == []  # nothing pushed, nothing logged

    planned = curfew(env, "plan", "--at", AT)  # a dry run stays free
    assert planned.returncode == 0, planned.stderr
    assert "cut" in planned.stdout and "dry run" in planned.stdout

    # a store's kind is fixed when it is created
    late = curfew(env, "store", "init", "--lab")
    assert late.returncode == 2 and "set once" in late.stderr
    assert "production store" in curfew(env, "store", "info").stdout


def test_reconcile_at_another_instant_runs_on_a_lab_store(env, inventory_file):
    created = curfew(env, "store", "init", "--lab")
    assert created.returncode == 0, created.stderr
    assert curfew(env, "inventory", "import", str(inventory_file)).returncode == 0
    order(env)

    ran = curfew(env, "reconcile", "--at", AT)
    # SMALL_CITY's router is not running: the pass runs at that instant, fails to connect,
    # and says so (exit 1), the failed outcome logged (no intent: nothing could be sent)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "pass at 2026-11-24T16:00:05+00:00" in ran.stdout
    # the Shanghai venue is cut at its midnight; the Berlin one (17:00 there) is not
    # (the Berlin line, new, is read: both fail; no intents, since nothing could be sent)
    assert sorted(outcome_records(env["CURFEW_DATABASE_URL"])) == [
        ("outcome", "cut", False),
        ("outcome", "restore", False),
    ]


def test_a_command_that_only_reads_never_creates_an_sqlite_store(tmp_path: Path):
    missing = tmp_path / "typo.db"
    env = dict(os.environ, CURFEW_DATABASE_URL=f"sqlite:///{missing}")
    for args in (
        ["audit", "verify"],
        ["changes"],
        ["plan"],
        ["inventory", "verify"],
        ["token", "list"],
        ["report", "violations", "--since", "2026-11-24T00:00+08:00",
         "--until", "2026-11-25T00:00+08:00"],
    ):  # fmt: skip
        result = curfew(env, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "no such database" in result.stderr, args
        assert not missing.exists(), args

    created = curfew(env, "token", "create", "--role", "auditor")
    assert created.returncode == 0, created.stderr
    assert f"created a new production store at {missing}" in created.stderr
    assert missing.exists()


def test_store_init_lab_on_a_new_file_says_once_what_it_created(tmp_path: Path):
    path = tmp_path / "lab.db"
    own = dict(os.environ, CURFEW_DATABASE_URL=f"sqlite:///{path}")
    result = curfew(own, "store", "init", "--lab")
    assert result.returncode == 0, result.stderr
    assert "production" not in result.stdout + result.stderr
    assert result.stdout.strip().endswith("created, a lab store")
    assert Store.open(f"sqlite:///{path}").kind == "lab"

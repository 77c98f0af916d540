"""Shared fixtures: a real SQLite store on a simulated clock, a small inventory, the API."""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from controller.clock import SimulatedClock
from controller.credentials import generate_key
from controller.inventory import import_document
from controller.store import Store
from tests.postgres import PostgresServer, why_unavailable

# Inline device passwords are stored only encrypted: the whole session (and the `curfew`
# processes tests start, which inherit the environment) uses one throwaway key.
_KEYS = Path(tempfile.mkdtemp(prefix="curfew-test-keys-"))
atexit.register(shutil.rmtree, _KEYS, ignore_errors=True)
SECRETS_KEY_FILE = _KEYS / "secrets.key"
generate_key(SECRETS_KEY_FILE)
os.environ["CURFEW_SECRETS_KEY_FILE"] = str(SECRETS_KEY_FILE)
for _variable in ("CURFEW_CREDENTIALS_DIR", "CURFEW_MANAGEMENT_NETWORKS"):
    os.environ.pop(_variable, None)  # the tests set them where they test them

SHANGHAI = ZoneInfo("Asia/Shanghai")
ADMIN_TOKEN = "test-admin-token-0123456789abcdef"

SMALL_CITY = {
    "authorities": [{"name": "city-bureau", "regions": ["620100"]}],
    "devices": [
        {
            "name": "R1",
            "platform": "cisco_ios",
            "host": "127.0.0.1",
            "port": 1,
            "username": "curfew",
            "password": "lab-password",
            "secret": "lab-enable",
        }
    ],
    "venues": [
        {"name": "网吧 One", "licence": "LIC-1", "zone": "Asia/Shanghai", "region": "620100"},
        {"name": "Cafe Two", "licence": "LIC-2", "zone": "Europe/Berlin"},
    ],
    "lines": [
        {
            "name": "R1-L1",
            "venue": "网吧 One",
            "device": "R1",
            "interface": "GigabitEthernet0/1",
            "prefixes": ["198.18.1.0/24", "2001:db8:1:1::/64"],
        },
        {
            "name": "R1-L2",
            "venue": "Cafe Two",
            "device": "R1",
            "interface": "GigabitEthernet0/2",
            "prefixes": ["198.18.2.0/24"],
        },
    ],
}


@pytest.fixture
def small_city() -> dict:
    return copy.deepcopy(SMALL_CITY)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(datetime(2026, 11, 24, 22, 0, tzinfo=SHANGHAI))


# A test about routers and drivers through the store, not about the store (what the database
# does there — appends, states, checkpoints, claims — runs on both databases in the store's own
# tests, and the passes' claims in test_instances and the e2e tests), may run on SQLite only,
# to keep the suite within its time: `@SQLITE_ONLY` on the test, or in a module's `pytestmark`.
SQLITE_ONLY = pytest.mark.sqlite_only


@pytest.hookimpl(tryfirst=True)  # the mark must be there before parametrize marks are read
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`database_url` on SQLite alone for a test marked `sqlite_only`, as a direct
    parametrization, which takes the fixture's place (a test of the module that uses no store
    is left as it is)."""
    if "database_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "sqlite_only"
    ):
        metafunc.definition.add_marker(
            pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store-level test runs on both databases: SQLite in the test's directory (the
    embedded default) and a fresh database on the session's PostgreSQL server (production)."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'curfew.db'}"


@pytest.fixture
def store(database_url: str, clock: SimulatedClock) -> Store:
    opened = Store.open(database_url, clock=clock)
    yield opened
    opened.close()


@pytest.fixture
def city_store(store: Store, small_city: dict) -> Store:
    import_document(store, small_city, "small city")
    return store


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """One throwaway PostgreSQL server for the session (skips, saying why, where none exists)."""
    reason = why_unavailable()
    if reason is not None:
        pytest.skip(f"PostgreSQL: {reason}")
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    return postgres_server.create_database()

"""The radius_nas driver against a plain SQLite database holding FreeRADIUS's two tables (no
FreeRADIUS, no NAS): what it does with what radacct may hold that no Disconnect-Request can
carry. The whole driver against a real FreeRADIUS and BNG twins is
tests/integration/test_subscribers.py and the contract suite."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.base import Batch, Credentials, LineState, LineTarget
from drivers.radius_nas import Misconfigured, RadiusNasDriver

# the columns the driver reads and writes, as FreeRADIUS's schema.sql names them
SCHEMA = """
CREATE TABLE radcheck (id INTEGER PRIMARY KEY AUTOINCREMENT, username varchar(64) NOT NULL
    DEFAULT '', attribute varchar(64) NOT NULL DEFAULT '', op char(2) NOT NULL DEFAULT '==',
    value varchar(253) NOT NULL DEFAULT '');
CREATE TABLE radacct (radacctid INTEGER PRIMARY KEY AUTOINCREMENT, acctsessionid varchar(64),
    username varchar(64), nasipaddress varchar(15), framedipaddress varchar(15),
    acctstoptime datetime NULL DEFAULT NULL);
"""
NAS_IP = "127.0.0.21"


@pytest.fixture
def radius_db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "radius.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA)
    yield path


def unused_udp_port() -> int:
    """A UDP port nothing answers on (bound, then released): a NAS that is not there."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_session_id_no_disconnect_can_carry_is_refused_and_the_pass_goes_on(
    radius_db: Path,
) -> None:
    # a hand-written radacct row: a session id longer than a RADIUS attribute holds
    long_id = "S" * 300
    with sqlite3.connect(radius_db) as db:
        db.execute(
            "INSERT INTO radacct (acctsessionid, username, nasipaddress, framedipaddress) "
            "VALUES (?, 'bob', ?, '10.64.1.2')",
            (long_id, NAS_IP),
        )
    credentials = Credentials(
        host=NAS_IP, port=unused_udp_port(), username="curfew", password="dae-secret",
        timeout=2.0, extra={"radius_db": f"sqlite:///{radius_db}", "dae_timeout": "0.2",
                            "dae_tries": "1"},
    )  # fmt: skip
    bob = LineTarget(1, "", (), username="bob", nas=("BNG1",))
    carol = LineTarget(2, "", (), username="carol", nas=("BNG1",))
    with RadiusNasDriver("BNG1", credentials) as driver:
        result = driver.apply(Batch(cuts=(bob, carol), restores=()))
    outcomes = {o.line_id: o for o in result.outcomes}
    refused = outcomes[1]
    assert not refused.verified and refused.state_after is LineState.UNKNOWN
    assert refused.error is not None and refused.error.startswith("Rejected: session 'SSS")
    assert "cannot be named in a Disconnect-Request" in refused.error
    assert not refused.retryable  # the row will not get shorter by itself
    assert len(refused.error) < 300  # the id is shown cut short, not whole
    assert refused.commands == ("radcheck insert Auth-Type := Reject for bob",)
    # the other line of the batch is cut as if nothing had happened
    assert outcomes[2].verified and outcomes[2].state_after is LineState.CUT
    with sqlite3.connect(radius_db) as db:
        refusals = db.execute(
            "SELECT username FROM radcheck WHERE attribute = 'Auth-Type' ORDER BY username"
        ).fetchall()
    assert refusals == [("bob",), ("carol",)]  # bob is refused all the same


def test_a_radius_database_url_naming_another_server_in_its_query_is_refused() -> None:
    # stored before the inventory refused it: the driver refuses it too, before any connection
    credentials = Credentials(
        host=NAS_IP, port=3799, username="curfew", password="dae-secret", secret="db-password",
        extra={"radius_db": "postgresql://radius@10.30.0.5/radius?host=203.0.113.9"},
    )  # fmt: skip
    driver = RadiusNasDriver("BNG1", credentials)
    with pytest.raises(Misconfigured, match="may not give host") as refused:
        driver.open()
    assert not refused.value.retryable and "db-password" not in str(refused.value)
    bob = LineTarget(1, "", (), username="bob", nas=("BNG1",))
    result = driver.apply(Batch(cuts=(bob,), restores=()))
    [outcome] = result.outcomes
    assert not outcome.verified and outcome.commands == ()
    assert outcome.error is not None and "Misconfigured" in outcome.error

"""A real FreeRADIUS (lab/freeradius.py) and BNG twins (lab/bng.py): subscribers dial in through
the server, accounting lands in radacct, and the twins answer RFC 5176 Disconnect/CoA requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lab.freeradius import RadiusServer, unavailable_reason

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def radius() -> Iterator[RadiusServer]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    with RadiusServer({"127.0.0.21": "bng1-secret", "127.0.0.22": "bng2-secret"}) as server:
        yield server


def test_server_accepts_the_right_password_and_rejects_a_refused_subscriber(
    radius: RadiusServer,
) -> None:
    radius.add_subscriber("server-check", "pw-1")
    assert radius.authenticate("server-check", "pw-1") is True
    assert radius.authenticate("server-check", "wrong") is False
    radius.add_check("server-check", "Auth-Type", ":=", "Reject")
    assert radius.authenticate("server-check", "pw-1") is False
    assert radius.delete_checks("server-check", "Auth-Type") == 1
    assert radius.authenticate("server-check", "pw-1") is True
    assert radius.db_url == f"sqlite:///{radius.db_path}"

"""Subscriber lines through a real FreeRADIUS and two BNG twins, driven by the real reconciler.

Issue 11's must-show 1-3: at 00:00 the ordered subscribers are refused in radcheck and their
sessions disconnected (Disconnect-ACK), re-dial is rejected until 08:00; a NAS that NAKs or does
not answer leaves the line unverified with the cause and the next pass retries it; a refusal
deleted by hand is found as drift and written again; the server refuses with curfew gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from controller.clock import SimulatedClock
from controller.inventory import InventoryError, import_document
from controller.orders import OrderCreate, issue_order
from controller.reconciler import Reconciler
from controller.store import ChangeFilter, Store
from drivers.base import Batch, Credentials, LineTarget
from drivers.registry import driver_for
from lab.bng import SESSION_CONTEXT_NOT_FOUND, BngTwin, Rejected, Session
from lab.freeradius import RadiusServer, unavailable_reason
from tests.conftest import SHANGHAI

pytestmark = pytest.mark.lab

NIGHT = datetime(2026, 11, 25, tzinfo=SHANGHAI)  # 00:00 in the venues' zone
RADIUS_SECRET = "lab-radius-secret"  # the BNGs' secret with FreeRADIUS
DAE_SECRETS = {"bng-1": "dae-secret-one", "bng-2": "dae-secret-two"}
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}


@dataclass
class SubscriberLab:
    server: RadiusServer
    bngs: dict[str, BngTwin]
    store: Store
    clock: SimulatedClock

    def dial(self, bng: str, user: str) -> Session | Rejected:
        return self.bngs[bng].dial(user, PASSWORDS[user])

    def line_id(self, name: str) -> int:
        return next(ln.id for ln in self.store.lines() if ln.name == name)  # type: ignore[misc]

    def state(self, name: str) -> str | None:
        status = self.store.line_statuses().get(self.line_id(name))
        return None if status is None else status.state

    def refusals(self, user: str) -> list[tuple[str, str, str]]:
        return [
            (row["attribute"], row["op"], row["value"])
            for row in self.server.checks(user)
            if row["attribute"] == "Auth-Type"
        ]

    def pass_at(self, at: datetime, **options: bool):  # type: ignore[no-untyped-def]
        self.clock.set(at)
        return Reconciler(self.store, device_timeout=5).run_pass(at, **options)


def inventory(radius: RadiusServer, bngs: dict[str, BngTwin]) -> dict:
    return {
        "authorities": [{"name": "city-bureau", "regions": ["620100"]}],
        "devices": [
            {
                "name": name,
                "platform": "radius_nas",
                "host": bng.address,
                "port": bng.dae_port,
                "username": "curfew",
                "password": DAE_SECRETS[name],
                "carrier": "City Broadband",
                # short DAE waits: the silent NAS case waits them out
                "options": {"radius_db": radius.db_url, "dae_timeout": "0.3", "dae_tries": "2"},
            }  # fmt: skip
            for name, bng in bngs.items()
        ],
        "venues": [
            {
                "name": f"Cafe {user.title()}",
                "licence": f"LIC-{user}",
                "zone": "Asia/Shanghai",
                "region": "620100",
            }
            for user in PASSWORDS
        ],
        "lines": [
            {
                "name": "sub-alice",
                "venue": "Cafe Alice",
                "kind": "subscriber",
                "username": "alice",
                "nas": ["bng-1"],
            },
            # bob may dial on either BNG: a session on bng-2 is disconnected there
            {
                "name": "sub-bob",
                "venue": "Cafe Bob",
                "kind": "subscriber",
                "username": "bob",
                "nas": ["bng-1", "bng-2"],
            },
            {
                "name": "sub-carol",
                "venue": "Cafe Carol",
                "kind": "subscriber",
                "username": "carol",
                "nas": ["bng-2"],
            },
        ],  # fmt: skip
    }


@pytest.fixture
def sub_lab(tmp_path: Path, clock: SimulatedClock) -> Iterator[SubscriberLab]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    addresses = {"bng-1": "127.0.0.21", "bng-2": "127.0.0.22"}
    server = RadiusServer({a: RADIUS_SECRET for a in addresses.values()}).start()
    bngs: dict[str, BngTwin] = {}
    store = Store.open(f"sqlite:///{tmp_path / 'curfew.db'}", clock=clock)
    try:
        for user, password in PASSWORDS.items():
            server.add_subscriber(user, password)
        for n, (name, address) in enumerate(addresses.items(), start=1):
            bngs[name] = BngTwin(
                name, address, (server.host, server.auth_port, server.acct_port),
                RADIUS_SECRET, DAE_SECRETS[name], f"100.64.{n}.0/24", clock=clock.now,
            ).start()  # fmt: skip
        import_document(store, inventory(server, bngs), "subscriber lab")
        yield SubscriberLab(server, bngs, store, clock)
    finally:
        for bng in bngs.values():
            bng.close()
        server.close()
        store.close()


def order(store: Store, venue: str) -> int:
    created = issue_order(
        store,
        OrderCreate(
            venue=venue,
            kind="curfew",
            reason="after_hours",
            legal_basis="临兰文执发〔2018〕3号",
            effective_from=NIGHT - timedelta(days=7),
        ),  # fmt: skip
        actor="bureau:test",
    )
    assert created.id is not None
    return created.id


def outcomes(store: Store, line_id: int) -> list:  # type: ignore[type-arg]
    return [c for c in store.changes(ChangeFilter(line_id=line_id)) if c.kind == "outcome"]


# ------------------------------------------------------------------------------ must-show 1


def test_a_night_disconnects_ordered_subscribers_refuses_them_until_eight_and_logs_it(
    sub_lab: SubscriberLab,
) -> None:
    alice = sub_lab.dial("bng-1", "alice")
    bob = sub_lab.dial("bng-2", "bob")
    carol = sub_lab.dial("bng-2", "carol")
    assert all(isinstance(s, Session) for s in (alice, bob, carol))
    assert isinstance(bob, Session) and isinstance(carol, Session)
    alice_order, bob_order = order(sub_lab.store, "Cafe Alice"), order(sub_lab.store, "Cafe Bob")

    evening = sub_lab.pass_at(NIGHT - timedelta(hours=1))
    assert evening.ok and sub_lab.state("sub-alice") == "open"
    assert sub_lab.bngs["bng-1"].requests == [] and sub_lab.bngs["bng-2"].requests == []

    night = sub_lab.pass_at(NIGHT + timedelta(seconds=5))

    assert night.ok, night.failures
    assert sub_lab.bngs["bng-1"].sessions() == []
    assert [s.username for s in sub_lab.bngs["bng-2"].sessions()] == ["carol"], "others stay"
    # bob's session was on bng-2, his line driven through bng-1: disconnected where it was
    assert [r.answer for r in sub_lab.bngs["bng-2"].requests] == ["ack"]
    assert sub_lab.bngs["bng-2"].requests[0].attributes["Acct-Session-Id"] == bob.session_id
    assert sub_lab.refusals("alice") == [("Auth-Type", ":=", "Reject")]
    assert sub_lab.refusals("bob") == [("Auth-Type", ":=", "Reject")]
    assert sub_lab.refusals("carol") == []
    assert (sub_lab.state("sub-alice"), sub_lab.state("sub-bob")) == ("cut", "cut")
    stopped = [r for r in sub_lab.server.accounting("bob") if r["acctstoptime"] is not None]
    assert stopped and stopped[-1]["acctterminatecause"] == "Admin-Reset"

    # the night: refused at authentication on any BNG, carol dials as she likes
    for bng in ("bng-1", "bng-2"):
        assert isinstance(sub_lab.dial(bng, "alice"), Rejected)
        assert isinstance(sub_lab.dial(bng, "bob"), Rejected)
    assert isinstance(sub_lab.bngs["bng-2"].redial("carol"), Session)
    quiet = sub_lab.pass_at(NIGHT + timedelta(hours=4))
    assert quiet.ok and quiet.batches == [], "nothing to change in the night"

    morning = sub_lab.pass_at(NIGHT + timedelta(hours=8, seconds=5))

    assert morning.ok, morning.failures
    assert sub_lab.refusals("alice") == [] and sub_lab.refusals("bob") == []
    assert isinstance(sub_lab.dial("bng-1", "alice"), Session), "re-dial accepted at 08:00"
    assert isinstance(sub_lab.dial("bng-2", "bob"), Session)
    assert sub_lab.server.checks("alice")[0]["attribute"] == "Cleartext-Password", "kept"

    cut, restore = outcomes(sub_lab.store, sub_lab.line_id("sub-bob"))[-2:]
    assert (cut.action, cut.state_after, cut.verified) == ("cut", "cut", True)
    assert cut.order_ids == [bob_order] and restore.order_ids == [bob_order]
    assert cut.commands == [
        "radcheck insert Auth-Type := Reject for bob",
        f"disconnect bob session {bob.session_id} ({bob.framed_ip}) at bng-2",
    ]
    assert f"{bob.session_id} ({bob.framed_ip}) at bng-2: Disconnect-ACK" in (cut.output or "")
    assert (restore.action, restore.state_after, restore.verified) == ("restore", "open", True)
    assert restore.commands == ["radcheck delete Auth-Type := Reject for bob"]
    alice_cut = outcomes(sub_lab.store, sub_lab.line_id("sub-alice"))[-2]
    assert alice_cut.order_ids == [alice_order] and alice_cut.verified
    carol_log = outcomes(sub_lab.store, sub_lab.line_id("sub-carol"))
    assert all(not c.commands for c in carol_log), "never cut, never touched"
    assert_no_secret_logged(sub_lab.store)


def assert_no_secret_logged(store: Store) -> None:
    """The DAE secrets were in the sessions' memory only: no record holds one."""
    for record in store.changes(ChangeFilter()):
        text = " ".join([*record.commands, record.output or "", record.error or "", record.detail])
        assert not any(secret in text for secret in DAE_SECRETS.values()), record.seq


def test_a_nas_whose_secret_cannot_be_had_fails_only_the_sessions_it_holds(
    sub_lab: SubscriberLab, tmp_path: Path
) -> None:
    document = inventory(sub_lab.server, sub_lab.bngs)
    bng2 = next(d for d in document["devices"] if d["name"] == "bng-2")
    del bng2["password"]
    bng2["password_ref"] = "bng-2-dae-nowhere"  # names no file and no variable
    import_document(sub_lab.store, document, "bng-2's secret moved")
    assert isinstance(sub_lab.dial("bng-1", "alice"), Session)
    assert isinstance(sub_lab.dial("bng-2", "bob"), Session)
    order(sub_lab.store, "Cafe Alice"), order(sub_lab.store, "Cafe Bob")

    night = sub_lab.pass_at(NIGHT + timedelta(seconds=5))

    failures = {r.change.line_id: r for r in night.failures}
    # carol's line is driven by bng-2 itself: without its secret there is no session at all
    assert set(failures) == {sub_lab.line_id("sub-bob"), sub_lab.line_id("sub-carol")}
    assert (failures[sub_lab.line_id("sub-carol")].error or "").startswith("CredentialMissing")
    failed = failures[sub_lab.line_id("sub-bob")]
    assert failed.error is not None and failed.error.startswith("Unreachable: NAS bng-2: ")
    assert "bng-2-dae-nowhere" in failed.error and sub_lab.state("sub-bob") == "unknown"
    assert sub_lab.bngs["bng-2"].requests == [], "nothing sent without its secret"
    assert sub_lab.state("sub-alice") == "cut" and sub_lab.bngs["bng-1"].sessions() == []


# ------------------------------------------------------------------------------ must-show 2


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        ("nak", "NAK: Error-Cause 503 Session-Context-Not-Found from bng-2"),
        ("silent", "Timeout: no answer from bng-2"),
    ],
)
def test_a_nas_that_naks_or_does_not_answer_leaves_the_line_unverified_and_retried(
    sub_lab: SubscriberLab, fault: str, cause: str
) -> None:
    bob = sub_lab.dial("bng-2", "bob")
    assert isinstance(bob, Session)
    order(sub_lab.store, "Cafe Bob")
    sub_lab.bngs["bng-2"].set_fault(fault, SESSION_CONTEXT_NOT_FOUND)

    first = sub_lab.pass_at(NIGHT + timedelta(seconds=5))

    failed = [r for r in first.failures if r.change.line_id == sub_lab.line_id("sub-bob")]
    assert len(failed) == 1 and failed[0].error is not None and cause in failed[0].error
    assert failed[0].state_after.value == "unknown" and not failed[0].verified
    assert failed[0].retryable is (fault == "silent"), "no answer may come; a NAK is an answer"
    assert sub_lab.state("sub-bob") == "unknown", "never recorded as cut"
    logged = outcomes(sub_lab.store, sub_lab.line_id("sub-bob"))[-1]
    assert (logged.verified, logged.state_after) == (False, "unknown")
    assert logged.error is not None and cause in logged.error
    assert [s.username for s in sub_lab.bngs["bng-2"].sessions()] == ["bob"], "still online"
    assert isinstance(sub_lab.dial("bng-1", "bob"), Rejected), "but refused a new session"

    again = sub_lab.pass_at(NIGHT + timedelta(minutes=1))
    assert [r.change.line_id for r in again.failures] == [sub_lab.line_id("sub-bob")], "retried"
    sub_lab.bngs["bng-2"].set_fault()
    healed = sub_lab.pass_at(NIGHT + timedelta(minutes=2))

    assert healed.ok, healed.failures
    assert sub_lab.state("sub-bob") == "cut" and sub_lab.bngs["bng-2"].sessions() == []
    assert sub_lab.refusals("bob") == [("Auth-Type", ":=", "Reject")], "one row, however tried"


def test_an_answer_signed_with_another_secret_is_no_answer_until_read_back_proves_the_cut(
    sub_lab: SubscriberLab,
) -> None:
    bob = sub_lab.dial("bng-2", "bob")
    assert isinstance(bob, Session)
    order(sub_lab.store, "Cafe Bob")
    sub_lab.bngs["bng-2"].set_fault("wrong_secret")  # it disconnects, its ACK does not verify

    first = sub_lab.pass_at(NIGHT + timedelta(seconds=5))

    (failed,) = first.failures
    assert failed.error is not None and "Timeout: no answer from bng-2" in failed.error
    assert sub_lab.state("sub-bob") == "unknown", "an unverifiable answer proves nothing"
    assert sub_lab.bngs["bng-2"].sessions() == []
    sent = len(sub_lab.bngs["bng-2"].requests)  # each try of the Disconnect-Request

    second = sub_lab.pass_at(NIGHT + timedelta(minutes=1))

    assert second.ok and sub_lab.state("sub-bob") == "cut"
    assert len(sub_lab.bngs["bng-2"].requests) == sent, "nothing left to disconnect: none sent"
    last = outcomes(sub_lab.store, sub_lab.line_id("sub-bob"))[-1]
    assert last.verified and last.commands == []


# ------------------------------------------------------------------------------ must-show 3


def test_a_refusal_deleted_by_hand_is_drift_and_is_written_again(sub_lab: SubscriberLab) -> None:
    order(sub_lab.store, "Cafe Alice")
    assert sub_lab.pass_at(NIGHT + timedelta(seconds=5)).ok
    assert sub_lab.state("sub-alice") == "cut"

    # a NOC engineer deletes the refusal; alice dials in at once
    assert sub_lab.server.delete_checks("alice", "Auth-Type") == 1
    back = sub_lab.dial("bng-1", "alice")
    assert isinstance(back, Session)

    found = sub_lab.pass_at(NIGHT + timedelta(hours=2), read_devices=True)

    assert found.drifted == [sub_lab.line_id("sub-alice")]
    assert found.ok, found.failures
    drift = [
        c for c in outcomes(sub_lab.store, sub_lab.line_id("sub-alice")) if c.action == "drift"
    ]
    assert len(drift) == 1 and drift[0].state_after == "open"
    assert sub_lab.refusals("alice") == [("Auth-Type", ":=", "Reject")]
    assert sub_lab.bngs["bng-1"].sessions() == [], "the session made meanwhile is torn down"
    assert sub_lab.state("sub-alice") == "cut"


def test_with_curfew_gone_the_radius_server_still_refuses(sub_lab: SubscriberLab) -> None:
    order(sub_lab.store, "Cafe Alice")
    assert sub_lab.pass_at(NIGHT + timedelta(seconds=5)).ok
    sub_lab.store.close()  # no controller, no store: only FreeRADIUS and its tables are left

    assert sub_lab.server.authenticate("alice", PASSWORDS["alice"]) is False
    assert isinstance(sub_lab.dial("bng-1", "alice"), Rejected)
    assert sub_lab.server.authenticate("carol", PASSWORDS["carol"]) is True


# ------------------------------------------------------------------------------ inventory


def test_a_subscriber_line_on_a_device_that_is_no_nas_is_refused_with_the_reason(
    sub_lab: SubscriberLab,
) -> None:
    document = {
        "devices": [
            {"name": "R1", "platform": "cisco_ios", "host": "127.0.0.1", "port": 22,
             "username": "curfew", "password": "lab-password"},
        ],
        "lines": [
            {"name": "sub-dave", "venue": "Cafe Alice", "kind": "subscriber",
             "username": "dave", "nas": ["R1", "bng-9"]},
            {"name": "sub-eve", "venue": "Cafe Alice", "kind": "subscriber",
             "username": "alice", "nas": ["bng-1"]},
        ],
    }  # fmt: skip
    with pytest.raises(InventoryError) as refused:
        import_document(sub_lab.store, document, "bad lines")
    problems = "\n".join(refused.value.problems)
    assert "nas: 'R1' is a cisco_ios device, not a radius_nas" in problems
    assert "nas: no device 'bng-9'" in problems
    assert "username: 'alice' already belongs to line 'sub-alice'" in problems


# ------------------------------------------------------------------------------ PostgreSQL

PG_SCHEMA = Path("/etc/freeradius/3.0/mods-config/sql/main/postgresql/schema.sql")


def test_the_driver_on_freeradius_postgresql_schema(postgres_url: str) -> None:
    """FreeRADIUS's PostgreSQL tables (inet addresses, timestamptz): the refusal written and
    deleted, an open session disconnected at its NAS (which NAKs: it holds no such session),
    and the cut verified once accounting shows the session stopped."""
    if not PG_SCHEMA.is_file():
        pytest.skip(f"FreeRADIUS's PostgreSQL schema {PG_SCHEMA} is missing")
    engine = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        connection.exec_driver_sql(PG_SCHEMA.read_text(encoding="utf-8"))
        connection.exec_driver_sql(
            "INSERT INTO radcheck (username, attribute, op, value) VALUES "
            "('dave', 'Cleartext-Password', ':=', 'pw'), ('erin', 'Auth-Type', ':=', 'Reject')"
        )
        connection.exec_driver_sql(
            "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, "
            "framedipaddress, acctstarttime) VALUES ('S-1', 'u-1', 'dave', '127.0.0.23', "
            "'100.64.9.9', now())"
        )
    # no RADIUS server behind it: it only answers Disconnect-Requests here
    bng = BngTwin("bng-3", "127.0.0.23", ("127.0.0.1", 9, 9), "radius-secret", "dae-3",
                  "100.64.9.0/24", clock=SimulatedClock(NIGHT).now)  # fmt: skip
    bng.start(announce=False)
    dave = LineTarget(7, "", (), username="dave", nas=("bng-3",))
    credentials = Credentials(
        bng.address, bng.dae_port, "curfew", "dae-3",
        extra={"radius_db": postgres_url, "dae_timeout": "0.5", "dae_tries": "1"},
    )  # fmt: skip
    try:
        with driver_for("radius_nas")("bng-3", credentials) as driver:
            refused = driver.apply(Batch(cuts=(dave,)))
            with engine.begin() as connection:  # the NAS's Accounting-Stop, as FreeRADIUS writes it
                connection.exec_driver_sql("UPDATE radacct SET acctstoptime = now()")
            cut = driver.apply(Batch(cuts=(dave,)))
            restored = driver.apply(Batch(restores=(dave,)))
    finally:
        bng.close()
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT username, attribute FROM radcheck ORDER BY id"
        ).all()
    engine.dispose()

    (first,) = refused.outcomes
    assert not first.verified and first.state_after.value == "unknown"
    assert (
        first.error == "NAK: Error-Cause 503 Session-Context-Not-Found from bng-3 for session S-1"
    )
    assert first.commands == (
        "radcheck insert Auth-Type := Reject for dave",
        "disconnect dave session S-1 (100.64.9.9) at bng-3",
    )
    assert cut.ok and cut.commands == () and cut.outcomes[0].state_after.value == "cut"
    assert restored.ok and restored.commands == ("radcheck delete Auth-Type := Reject for dave",)
    assert [tuple(r) for r in rows] == [("dave", "Cleartext-Password"), ("erin", "Auth-Type")]


def test_a_session_on_a_nas_the_line_does_not_name_is_not_disconnected_and_says_why(
    sub_lab: SubscriberLab,
) -> None:
    carol = sub_lab.dial("bng-1", "carol")  # her line names bng-2 only
    assert isinstance(carol, Session)
    order(sub_lab.store, "Cafe Carol")

    night = sub_lab.pass_at(NIGHT + timedelta(seconds=5))

    (failed,) = night.failures
    assert failed.error == (
        f"Rejected: session {carol.session_id} is on NAS-IP-Address 127.0.0.21, which is no NAS "
        "of the line: not disconnected (add that NAS to the line)"
    )
    assert not failed.retryable and sub_lab.state("sub-carol") == "unknown"
    assert sub_lab.bngs["bng-1"].requests == [] and sub_lab.bngs["bng-1"].sessions() == [carol]
    assert sub_lab.refusals("carol") == [("Auth-Type", ":=", "Reject")], "refused all the same"

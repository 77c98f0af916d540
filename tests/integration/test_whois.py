"""Issue 11, "Who serves this café?": `whois` for a static prefix (the inventory) and for a
dynamic address held by two subscribers at two instants (FreeRADIUS's radacct in a real SQLite
database); a bureau sees only what it may; every lookup is recorded and the log still verifies;
the CLI and the API both answer."""

from __future__ import annotations

import copy
import json
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from controller.access import Actor
from controller.accounting import accounting_engine, reading, sessions_at
from controller.clock import SimulatedClock
from controller.errors import Invalid, Unavailable
from controller.inventory import import_document
from controller.licences import import_entries, parse_register
from controller.models import Change
from controller.orders import OrderCreate, issue_order
from controller.settings import Settings
from controller.store import ChangeFilter, Store
from controller.tokens import create_token
from controller.whois import BureauHolder, Holder, whois
from tests.conftest import ADMIN_TOKEN, SMALL_CITY

DEBIAN_SCHEMA = Path("/etc/freeradius/3.0/mods-config/sql/main/sqlite/schema.sql")
# radacct as FreeRADIUS's schema has it (the columns curfew reads, and the others it ignores),
# for a machine without Debian's freeradius package
RADACCT = """CREATE TABLE radacct (
    radacctid INTEGER PRIMARY KEY AUTOINCREMENT, acctsessionid varchar(64) NOT NULL default '',
    acctuniqueid varchar(32) NOT NULL default '', username varchar(64) NOT NULL default '',
    realm varchar(64) default '', nasipaddress varchar(15) NOT NULL default '',
    nasportid varchar(32) default NULL, nasporttype varchar(32) default NULL,
    acctstarttime datetime NULL default NULL, acctupdatetime datetime NULL default NULL,
    acctstoptime datetime NULL default NULL, acctsessiontime int(12) default NULL,
    acctterminatecause varchar(32) NOT NULL default '', servicetype varchar(32) default NULL,
    framedipaddress varchar(15) NOT NULL default '',
    framedipv6address varchar(45) NOT NULL default '');"""

REGISTER = "licence,venue,valid_until,status\nLIC-1,网吧 One,2027-12-31,valid\n"
NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # the morning after: every session below is past
DYNAMIC = "100.64.7.10"
DYNAMIC_V6 = "2001:db8:64::10"  # bob's IPv6 session, from 15:30
ALICE_AT = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)  # alice holds DYNAMIC then (on bng-1)
BOB_AT = datetime(2026, 11, 24, 16, 30, tzinfo=UTC)  # bob holds it then (on bng-2)
STATIC = "198.18.1.77"  # in R1-L1's 198.18.1.0/24

runner = CliRunner()


def epoch(at: datetime) -> int:
    return int(at.timestamp())


@pytest.fixture
def radius_db() -> Iterator[Path]:
    """FreeRADIUS's SQL database (Debian's schema) with the accounting of two NAS: alice held
    DYNAMIC 14:00-15:00 UTC on bng-1, bob holds it from 15:30 on bng-2 (no Stop yet); carol
    holds another address. Alice's rows are epoch seconds, as FreeRADIUS 3.2 writes them on
    SQLite; bob's are text, as older versions wrote."""
    # a short path: a device option is at most 255 characters
    directory = Path(tempfile.mkdtemp(prefix="curfew-radius-"))
    path = directory / "radius.db"
    db = sqlite3.connect(path)
    if DEBIAN_SCHEMA.is_file():
        db.executescript(DEBIAN_SCHEMA.read_text())
    else:
        db.executescript(RADACCT)
    rows = [
        ("A-0001", "u-alice-1", "alice", "127.0.0.21", DYNAMIC, "",
         epoch(datetime(2026, 11, 24, 14, 0, tzinfo=UTC)),
         epoch(datetime(2026, 11, 24, 14, 55, tzinfo=UTC)),
         epoch(datetime(2026, 11, 24, 15, 0, tzinfo=UTC))),
        ("B-0007", "u-bob-7", "bob", "127.0.0.22", DYNAMIC, "",
         "2026-11-24 15:30:00", "2026-11-24 16:25:00", None),
        ("A-0002", "u-carol-2", "carol", "127.0.0.21", "100.64.7.11", "",
         epoch(datetime(2026, 11, 24, 13, 0, tzinfo=UTC)), None, None),
        ("B-0008", "u-bob-8", "bob", "127.0.0.22", "", DYNAMIC_V6,
         epoch(datetime(2026, 11, 24, 15, 30, tzinfo=UTC)), None, None),
    ]  # fmt: skip
    db.executemany(
        "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, "
        "framedipaddress, framedipv6address, acctstarttime, acctupdatetime, acctstoptime) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    db.commit()
    db.close()
    yield path
    for leftover in directory.iterdir():
        leftover.unlink()
    directory.rmdir()


def city_with_subscribers(radius_db: Path) -> dict:
    """The small city, two NAS on one FreeRADIUS database, alice a subscriber of 网吧 One
    (region 620100: city-bureau's) and bob of Cafe Two (no region: no bureau's)."""
    city = copy.deepcopy(SMALL_CITY)
    for name, host in (("bng-1", "127.0.0.21"), ("bng-2", "127.0.0.22")):
        city["devices"].append(
            {"name": name, "platform": "radius_nas", "host": host, "port": 3799,
             "username": "curfew", "password": "dae-secret", "carrier": "Lanzhou Broadband",
             "options": {"radius_db": f"sqlite:///{radius_db}"}}
        )  # fmt: skip
    city["lines"] += [
        {"name": "alice-line", "venue": "网吧 One", "kind": "subscriber", "username": "alice",
         "nas": ["bng-1", "bng-2"]},
        {"name": "bob-line", "venue": "Cafe Two", "kind": "subscriber", "username": "bob",
         "nas": ["bng-2"]},
    ]  # fmt: skip
    return city


def prepare(store: Store, radius_db: Path) -> int:
    """The city imported, 网吧 One licensed, Cafe Two under a disconnect order; its id."""
    import_document(store, city_with_subscribers(radius_db), "city with subscribers")
    import_entries(store, parse_register(REGISTER, "register"), "register")
    order = issue_order(
        store,
        OrderCreate(
            venue="Cafe Two", kind="disconnect", reason="unlicensed",
            legal_basis="临兰文执发〔2026〕11号", effective_from=datetime(2026, 11, 24, tzinfo=UTC),
        ),
        "admin",
    )  # fmt: skip
    assert order.id is not None
    return order.id


@pytest.fixture
def city(database_url: str, radius_db: Path) -> Iterator[tuple[Store, int]]:
    """The store on SQLite and on PostgreSQL (the RADIUS database is FreeRADIUS's SQLite)."""
    store = Store.open(database_url, clock=SimulatedClock(NOW))
    order_id = prepare(store, radius_db)
    yield store, order_id
    store.close()


NOC = Actor(name="noc-alice", role="noc")
BUREAU = Actor(name="city-bureau (token 9)", role="bureau", authority_id=1, regions=("620100",))


def whois_records(store: Store) -> list[Change]:
    return [c for c in store.changes(ChangeFilter(kinds=("admin",))) if c.action == "whois"]


def test_a_static_prefix_names_the_router_port_venue_licence_and_orders(city):
    store, _ = city
    answer = whois(store, STATIC, None, NOC)
    assert answer.view == "network" and answer.at == NOW and answer.complete
    [holder] = answer.holders
    assert isinstance(holder, Holder)
    assert (holder.via, holder.device, holder.line, holder.interface, holder.prefix) == (
        "prefix", "R1", "R1-L1", "GigabitEthernet0/1", "198.18.1.0/24",
    )  # fmt: skip
    assert (holder.venue, holder.licensed, holder.orders) == ("网吧 One", True, [])
    assert "LIC-1 is valid" in (holder.licence or "")
    v6 = whois(store, "2001:db8:1:1::5", None, NOC).holders
    assert [(h.line, h.prefix) for h in v6] == [("R1-L1", "2001:db8:1:1::/64")]  # type: ignore[union-attr]
    assert whois(store, "198.18.9.1", None, NOC).holders == []


def test_a_dynamic_address_is_held_by_two_subscribers_at_two_instants(city):
    store, order_id = city
    first = whois(store, DYNAMIC, ALICE_AT, NOC)
    [alice] = first.holders
    assert isinstance(alice, Holder) and alice.session is not None
    assert (alice.via, alice.device, alice.line, alice.venue) == (
        "accounting", "bng-1", "alice-line", "网吧 One",
    )  # fmt: skip
    assert (alice.session.username, alice.session.session_id, alice.session.nas_ip) == (
        "alice", "A-0001", "127.0.0.21",
    )  # fmt: skip
    assert alice.session.started == datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
    assert alice.session.stopped == datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    assert alice.carrier == "Lanzhou Broadband" and alice.licensed is True and alice.orders == []

    second = whois(store, DYNAMIC, BOB_AT.isoformat(), NOC)
    [bob] = second.holders
    assert isinstance(bob, Holder) and bob.session is not None
    assert (bob.device, bob.line, bob.venue, bob.session.session_id) == (
        "bng-2", "bob-line", "Cafe Two", "B-0007",
    )  # fmt: skip
    assert bob.session.started == datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
    assert bob.session.stopped is None and bob.licensed is False
    assert [(o.order_id, o.kind, o.cutting) for o in bob.orders] == [(order_id, "disconnect", True)]

    # IPv6 sessions by Framed-IPv6-Address; an IPv4-mapped address is its IPv4 address
    v6 = whois(store, "2001:DB8:64:0::10", BOB_AT, NOC).holders
    assert [(h.line, h.session.session_id) for h in v6] == [("bob-line", "B-0008")]  # type: ignore[union-attr]
    mapped = whois(store, f"::ffff:{DYNAMIC}", ALICE_AT, NOC)
    assert mapped.ip == DYNAMIC and [h.line for h in mapped.holders] == ["alice-line"]  # type: ignore[union-attr]

    # the stop is exclusive, the start inclusive; between the two sessions, nobody
    at_stop = whois(store, DYNAMIC, datetime(2026, 11, 24, 15, 0, tzinfo=UTC), NOC)
    assert at_stop.holders == [] and at_stop.complete
    at_start = whois(store, DYNAMIC, datetime(2026, 11, 24, 15, 30, tzinfo=UTC), NOC)
    assert [h.line for h in at_start.holders] == ["bob-line"]  # type: ignore[union-attr]


def test_a_bureau_sees_the_carrier_and_its_own_venues_never_the_network(city):
    store, _ = city
    mine = whois(store, DYNAMIC, ALICE_AT, BUREAU)
    theirs = whois(store, DYNAMIC, BOB_AT, BUREAU)
    static = whois(store, STATIC, None, BUREAU)
    assert {a.view for a in (mine, theirs, static)} == {"bureau"}
    [alice], [bob], [port] = mine.holders, theirs.holders, static.holders
    assert isinstance(alice, BureauHolder) and isinstance(bob, BureauHolder)
    assert (alice.carrier, alice.registered, alice.licensed, alice.venue) == (
        "Lanzhou Broadband", True, True, "网吧 One",
    )  # fmt: skip
    assert (bob.registered, bob.licensed, bob.in_jurisdiction, bob.venue) == (
        True, False, False, None,
    )  # fmt: skip
    assert port.carrier == "default" and port.venue == "网吧 One"  # type: ignore[union-attr]
    for answer in (mine, theirs, static):
        shown = answer.model_dump_json()
        for network_id in ("R1", "GigabitEthernet", "198.18.1.0", "bng-", "127.0.0.2", "alice",
                           "bob", "A-0001", "B-0007", "u-bob", "Cafe Two", "radius"):  # fmt: skip
            assert network_id not in shown, (network_id, shown)


def test_every_lookup_is_recorded_and_bad_input_records_nothing(city):
    store, _ = city
    answer = whois(store, DYNAMIC, BOB_AT, BUREAU)
    whois(store, STATIC, None, NOC)
    [bureau_record, noc_record] = whois_records(store)
    assert bureau_record.seq == answer.record and bureau_record.actor == BUREAU.name
    detail = json.loads(bureau_record.detail)
    assert (detail["ip"], detail["at"], detail["role"], detail["view"]) == (
        DYNAMIC, BOB_AT.isoformat(), "bureau", "bureau",
    )  # fmt: skip
    assert detail["answered"] == [
        {"carrier": "Lanzhou Broadband", "registered": True, "licensed": False,
         "in_jurisdiction": False, "venue": None}
    ]  # fmt: skip
    assert bureau_record.venue_id == store.find_venue("Cafe Two").id  # what it concerned
    noc = json.loads(noc_record.detail)["answered"]
    assert [(h["line"], h["device"], h["prefix"]) for h in noc] == [
        ("R1-L1", "R1", "198.18.1.0/24")
    ]
    assert "password" not in noc_record.detail and "sqlite" not in noc_record.detail

    refused = [
        ("not-an-ip", None, "ip"), ("198.18.1.777", None, "ip"), ("fe80::1%eth0", None, "ip"),
        (STATIC, "2026-11-24T14:00:00", "at"), (STATIC, "yesterday", "at"),
        (STATIC, (NOW + timedelta(hours=1)).isoformat(), "at"),
    ]  # fmt: skip
    for ip, at, field in refused:
        with pytest.raises(Invalid) as raised:
            whois(store, ip, at, NOC)
        assert raised.value.field == field, (ip, at)
    assert len(whois_records(store)) == 2


def test_an_unreadable_accounting_database_is_said_not_hidden(city, radius_db: Path):
    store, _ = city
    radius_db.rename(radius_db.with_suffix(".gone"))
    try:
        answer = whois(store, DYNAMIC, BOB_AT, NOC)
        bureau = whois(store, DYNAMIC, BOB_AT, BUREAU)
    finally:
        radius_db.with_suffix(".gone").rename(radius_db)
    assert answer.holders == [] and not answer.complete
    assert any("bng-1, bng-2" in n and "cannot be read" in n for n in answer.notes), answer.notes
    # nobody found in what could be read is not said to be nobody
    assert not any("no accounting session held" in n for n in answer.notes + bureau.notes)
    assert "accounting that could be read" in answer.notes[0]
    assert not bureau.complete and "bng" not in " ".join(bureau.notes)
    assert not radius_db.with_suffix(".gone").exists()  # read-only: nothing was created
    assert len(whois_records(store)) == 2


def test_a_nas_whose_database_password_cannot_be_had_is_named_once_and_the_rest_is_read(
    city, radius_db: Path, monkeypatch: pytest.MonkeyPatch
):
    store, _ = city
    monkeypatch.delenv("CURFEW_DEVICE_SECRET_WHOIS_NO_SUCH_SECRET", raising=False)
    import_document(
        store,
        {"devices": [
            {"name": "bng-3", "platform": "radius_nas", "host": "127.0.0.23", "port": 3799,
             "username": "curfew", "password": "dae-secret", "secret_ref": "whois-no-such-secret",
             "options": {"radius_db": f"sqlite:///{radius_db}"}},
        ]},
        "a NAS whose database password is nowhere",
    )  # fmt: skip
    answer = whois(store, DYNAMIC, ALICE_AT, NOC)
    assert [h.line for h in answer.holders] == ["alice-line"]  # type: ignore[union-attr]
    assert not answer.complete
    [note] = answer.notes
    assert note.startswith("NAS bng-3: secret_ref 'whois-no-such-secret' names no credential")


@pytest.fixture
def city_url(tmp_path: Path, radius_db: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'curfew.db'}"
    store = Store.open(url)
    prepare(store, radius_db)
    store.close()
    monkeypatch.setenv("CURFEW_DATABASE_URL", url)
    return url


def test_the_cli_answers_in_a_table_and_in_json_and_the_log_still_verifies(city_url: str):
    table = runner.invoke(cli, ["whois", DYNAMIC, "--at", ALICE_AT.isoformat()])
    assert table.exit_code == 0, table.output
    assert "alice-line" in table.stdout and "A-0001" in table.stdout and "bng-1" in table.stdout
    shown = runner.invoke(cli, ["whois", DYNAMIC, "--at", BOB_AT.isoformat(), "--json"])
    assert shown.exit_code == 0, shown.output
    answer = json.loads(shown.stdout)
    assert [(h["line"], h["session"]["username"]) for h in answer["holders"]] == [
        ("bob-line", "bob")
    ]
    assert answer["holders"][0]["orders"][0]["cutting"] is True
    bad = runner.invoke(cli, ["whois", "300.1.2.3"])
    assert bad.exit_code == 2 and "not an IP address" in bad.stderr and bad.stdout == ""
    bad_at = runner.invoke(cli, ["whois", DYNAMIC, "--at", "2026-11-24 14:30"])
    assert bad_at.exit_code == 2 and "UTC offset" in bad_at.stderr

    store = Store.open(city_url)
    try:
        records = whois_records(store)
    finally:
        store.close()
    assert [json.loads(r.detail)["ip"] for r in records] == [DYNAMIC, DYNAMIC]
    assert all(r.actor.startswith("cli:") for r in records)
    verified = runner.invoke(cli, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output


def test_the_api_answers_each_role_as_it_may_see(city):
    store, order_id = city
    tokens = {role: create_token(store, role, "test")[1] for role in ("noc", "auditor")}
    tokens["bureau"] = create_token(store, "bureau", "test", authority="city-bureau")[1]
    settings = Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings, store)) as client:

        def ask(role: str, **params: str) -> dict:
            response = client.get(
                "/api/v1/whois", params=params,
                headers={"Authorization": f"Bearer {tokens.get(role, ADMIN_TOKEN)}"},
            )  # fmt: skip
            assert response.status_code == 200, response.text
            return response.json()

        for role in ("noc", "auditor", "admin"):
            answer = ask(role, ip=DYNAMIC, at=BOB_AT.isoformat())
            assert answer["view"] == "network"
            [bob] = answer["holders"]
            assert (bob["device"], bob["session"]["session_id"]) == ("bng-2", "B-0007")
            assert [o["order_id"] for o in bob["orders"]] == [order_id]
        bureau = ask("bureau", ip=DYNAMIC, at=BOB_AT.isoformat())
        assert bureau["view"] == "bureau"
        assert set(bureau["holders"][0]) == {
            "view", "carrier", "registered", "licensed", "in_jurisdiction", "venue"
        }  # fmt: skip
        assert ask("bureau", ip=DYNAMIC, at=ALICE_AT.isoformat())["holders"][0]["venue"] == (
            "网吧 One"
        )
        logged = len(whois_records(store))
        for params in ({"ip": "nope"}, {"ip": DYNAMIC, "at": "2026-11-24T14:30:00"}, {}):
            response = client.get("/api/v1/whois", params=params, headers={
                "Authorization": f"Bearer {tokens['noc']}"})  # fmt: skip
            assert response.status_code == 422, (params, response.text)
        assert client.get("/api/v1/whois", params={"ip": DYNAMIC}).status_code == 401
    assert len(whois_records(store)) == logged == 5


FREERADIUS_SCHEMAS = Path("/etc/freeradius/3.0/mods-config/sql/main")


def test_the_accounting_reader_holds_on_each_freeradius_backend(database_url: str) -> None:
    """radacct as Debian's FreeRADIUS schema creates it on SQLite (instants as epoch seconds, as
    its queries write them) and on PostgreSQL (timestamp with time zone, inet addresses)."""
    schema = FREERADIUS_SCHEMAS / database_url.split(":")[0].split("+")[0] / "schema.sql"
    if not schema.is_file():
        pytest.skip(f"no {schema} (Debian's freeradius package)")
    postgres = database_url.startswith("postgresql")
    engine = accounting_engine(database_url) if postgres else sa.create_engine(database_url)
    start, stop = datetime(2026, 11, 24, 14, tzinfo=UTC), datetime(2026, 11, 24, 15, tzinfo=UTC)

    def stored(at: datetime | None) -> object:
        return at if postgres or at is None else epoch(at)

    if postgres:
        with engine.begin() as connection:
            connection.exec_driver_sql(schema.read_text())
    else:
        with sqlite3.connect(sa.make_url(database_url).database or "") as db:
            db.executescript(schema.read_text())
    with engine.begin() as connection:
        for sid, user, nas, ip, began, ended in (
            ("S1", "alice", "127.0.0.21", DYNAMIC, start, stop),
            ("S2", "bob", "127.0.0.22", DYNAMIC, stop, None),
            ("S3", "bob", "127.0.0.21", "100.64.7.99", start, None),
        ):
            connection.execute(
                sa.text(
                    "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, "
                    "framedipaddress, acctstarttime, acctstoptime) VALUES (:sid, :uid, :user, "
                    + ("CAST(:nas AS inet), CAST(:ip AS inet)" if postgres else ":nas, :ip")
                    + ", :began, :ended)"
                ),
                {"sid": sid, "uid": f"u-{sid}", "user": user, "nas": nas, "ip": ip,
                 "began": stored(began), "ended": stored(ended)},
            )  # fmt: skip
    engine.dispose()
    reader = accounting_engine(database_url)
    try:
        with reading(reader, "the lab's RADIUS") as connection:
            at_alice = sessions_at(connection, ip_address(DYNAMIC), start + timedelta(minutes=5))
            at_stop = sessions_at(connection, ip_address(DYNAMIC), stop)
            on_bng2 = sessions_at(connection, ip_address(DYNAMIC), stop, nas_ips=["127.0.0.21"])
    finally:
        reader.dispose()
    [alice] = at_alice
    assert (alice.session_id, alice.nas_ip, alice.framed_ip) == ("S1", "127.0.0.21", DYNAMIC)
    assert (alice.started, alice.stopped) == (start, stop)
    assert [(s.session_id, s.username, s.active) for s in at_stop] == [("S2", "bob", True)]
    assert on_bng2 == []


def test_accounting_logs_in_as_the_nas_device_where_its_url_names_no_user() -> None:
    # as the radius_nas driver does: the URL's user, else the device's username
    engine = accounting_engine("postgresql://10.30.0.5/radius", "db-secret", "curfew")
    named = accounting_engine("postgresql://radius@10.30.0.5/radius", "db-secret", "curfew")
    try:
        assert (engine.url.username, engine.url.password) == ("curfew", "db-secret")
        assert (named.url.username, named.url.password) == ("radius", "db-secret")
        assert engine.url.drivername == "postgresql+psycopg"
    finally:
        engine.dispose()
        named.dispose()
    # the server is the URL's host (held to the management networks), not one its query names
    with pytest.raises(ValueError, match="may not give hostaddr"):
        accounting_engine("postgresql://radius@10.30.0.5/radius?hostaddr=203.0.113.9", "pw")


def test_a_missing_radius_database_is_unavailable_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "radius.db"
    engine = accounting_engine(f"sqlite:///{missing}")
    with pytest.raises(Unavailable, match="bng-9: its accounting cannot be read"):
        with reading(engine, "bng-9") as connection:
            sessions_at(connection, ip_address(DYNAMIC), NOW)
    assert not missing.exists()
    with pytest.raises(ValueError, match="unsupported database"):
        accounting_engine("mysql://radius@127.0.0.1/radius")


@pytest.mark.lab
def test_whois_reads_what_a_real_freeradius_accounted_for_a_bng_twin(tmp_path: Path) -> None:
    """The same address handed by one BNG twin to alice, then to bob, accounted by a real
    FreeRADIUS (rlm_sql on SQLite, at the NAS's Event-Timestamp): whois names each in turn."""
    from lab.bng import BngTwin, Session
    from lab.freeradius import RadiusServer, unavailable_reason

    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    clock = SimulatedClock(datetime(2026, 11, 24, 14, 0, tzinfo=UTC))
    server = RadiusServer({"127.0.0.21": "lab-radius-secret"}).start()
    bng: BngTwin | None = None
    store = Store.open(f"sqlite:///{tmp_path / 'curfew.db'}", clock=clock)
    try:
        for user in ("alice", "bob"):
            server.add_subscriber(user, f"{user}-pw")
        bng = BngTwin(
            "bng-1", "127.0.0.21", (server.host, server.auth_port, server.acct_port),
            "lab-radius-secret", "dae-secret", "100.64.1.0/24", clock=clock.now,
        ).start()  # fmt: skip
        city = city_with_subscribers(server.db_path)
        del city["devices"][-1]  # one NAS here: bng-1, at the twin's address and DAE port
        city["devices"][-1]["port"] = bng.dae_port
        for line in city["lines"][-2:]:
            line["nas"] = ["bng-1"]
        import_document(store, city, "one BNG")

        alice = bng.dial("alice", "alice-pw")
        clock.advance(timedelta(hours=1))
        bng.hangup(username="alice")
        clock.advance(timedelta(minutes=30))
        bob = bng.dial("bob", "bob-pw")
        assert isinstance(alice, Session) and isinstance(bob, Session)
        assert alice.framed_ip == bob.framed_ip, "the pool hands the freed address again"
        clock.advance(timedelta(hours=1))

        def holders(at: datetime) -> list[tuple[str | None, str | None, str | None]]:
            answer = whois(store, alice.framed_ip, at, NOC)
            assert answer.complete, answer.notes
            return [
                (h.line, h.session.session_id if h.session else None, h.device)  # type: ignore[union-attr]
                for h in answer.holders
            ]

        base = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
        assert holders(base + timedelta(minutes=30)) == [("alice-line", alice.session_id, "bng-1")]
        assert holders(base + timedelta(minutes=70)) == []
        assert holders(base + timedelta(minutes=100)) == [("bob-line", bob.session_id, "bng-1")]
    finally:
        if bng is not None:
            bng.close()
        server.close()
        store.close()

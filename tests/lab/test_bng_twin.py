"""A real FreeRADIUS (lab/freeradius.py) and BNG twins (lab/bng.py): subscribers dial in through
the server, accounting lands in radacct, and the twins answer RFC 5176 Disconnect/CoA requests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest
import yaml
from pyrad import packet
from pyrad.client import Client, Timeout
from typer.testing import CliRunner

from api.cli import app
from controller.clock import SimulatedClock
from controller.inventory import import_document
from controller.store import Store
from lab.bng import BngTwin, Rejected, Session
from lab.freeradius import RadiusServer, unavailable_reason
from lab.radius import dictionary
from lab.topology import (
    Lab,
    city,
    load_subscribers,
    load_topology,
    serve_lab,
    subscriber_city,
)

pytestmark = pytest.mark.lab

CURFEW = str(Path(sys.executable).with_name("curfew"))  # the installed console script


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


# --------------------------------------------------------------------------- BNG twins


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(datetime(2026, 11, 24, 15, 0, tzinfo=UTC))


@pytest.fixture
def bngs(radius: RadiusServer, clock: SimulatedClock) -> Iterator[tuple[BngTwin, BngTwin]]:
    endpoint = (radius.host, radius.auth_port, radius.acct_port)
    one = BngTwin(
        "BNG1", "127.0.0.21", endpoint, "bng1-secret", "dae1-secret", "10.64.1.0/24", clock.now
    )
    two = BngTwin(
        "BNG2", "127.0.0.22", endpoint, "bng2-secret", "dae2-secret", "10.64.2.0/24", clock.now
    )
    with one, two:
        yield one, two


def dae(
    bng: BngTwin,
    code: int = packet.DisconnectRequest,
    secret: str | None = None,
    timeout: float = 1.0,
    **attributes: object,
) -> packet.Packet:
    """A Disconnect/CoA-Request to the twin's DAE port, as curfew's driver sends it."""
    client = Client(
        server=bng.address,
        coaport=bng.dae_port,
        secret=(secret or bng.dae_secret).encode(),
        dict=dictionary(),
        retries=1,
        timeout=timeout,
    )
    request = client.CreateCoAPacket(code=code)
    for name, value in attributes.items():
        request[name.replace("_", "-")] = value
    return client.SendPacket(request)


def test_a_subscriber_dials_in_and_is_accounted_with_framed_and_nas_ip(
    radius: RadiusServer, bngs: tuple[BngTwin, BngTwin], clock: SimulatedClock
) -> None:
    one, two = bngs
    radius.add_subscriber("cafe-a@isp", "pw-a")
    session = one.dial("cafe-a@isp", "pw-a")
    assert isinstance(session, Session)
    assert session.nas_ip == "127.0.0.21"
    assert ip_address(session.framed_ip) in ip_network("10.64.1.0/24")
    [row] = [r for r in radius.accounting("cafe-a@isp") if r["acctsessionid"] == session.session_id]
    assert row["nasipaddress"] == "127.0.0.21"
    assert row["framedipaddress"] == session.framed_ip
    assert row["acctstarttime"] == "2026-11-24 15:00:00"  # the twin's clock, not the wall's
    assert row["acctstoptime"] is None
    assert len(row["acctuniqueid"]) == 32

    clock.advance(timedelta(minutes=5))
    assert one.interim(octets=4000) == 1
    [row] = [r for r in radius.accounting("cafe-a@isp") if r["acctsessionid"] == session.session_id]
    assert row["acctupdatetime"] == "2026-11-24 15:05:00"
    assert (row["acctsessiontime"], row["acctinputoctets"]) == (300, 4000)

    wrong = two.dial("cafe-a@isp", "not-the-password")
    assert isinstance(wrong, Rejected) and wrong.answered
    assert two.sessions() == []

    clock.advance(timedelta(minutes=1))
    [ended] = one.hangup(username="cafe-a@isp")
    assert ended.session_id == session.session_id and one.sessions() == []
    [row] = [r for r in radius.accounting("cafe-a@isp") if r["acctsessionid"] == session.session_id]
    assert (row["acctstoptime"], row["acctterminatecause"]) == (
        "2026-11-24 15:06:00",
        "User-Request",
    )
    assert (row["acctsessiontime"], row["acctoutputoctets"]) == (360, 4000)


def test_a_refusal_row_makes_the_redial_rejected_and_its_removal_lets_it_in(
    radius: RadiusServer, bngs: tuple[BngTwin, BngTwin]
) -> None:
    one, _ = bngs
    radius.add_subscriber("cafe-b", "pw-b")
    first = one.dial("cafe-b", "pw-b")
    assert isinstance(first, Session)
    radius.add_check("cafe-b", "Auth-Type", ":=", "Reject")
    again = one.redial("cafe-b")
    assert isinstance(again, Rejected) and again.answered
    assert one.sessions("cafe-b") == []
    assert radius.delete_checks("cafe-b", "Auth-Type") == 1
    assert isinstance(one.redial("cafe-b", "pw-b"), Session)


def test_disconnect_with_the_right_secret_is_acked_and_the_session_stopped(
    radius: RadiusServer, bngs: tuple[BngTwin, BngTwin]
) -> None:
    one, two = bngs
    radius.add_subscriber("cafe-c", "pw-c")
    radius.add_subscriber("cafe-d", "pw-d")
    target = one.dial("cafe-c", "pw-c")
    other = two.dial("cafe-d", "pw-d")
    assert isinstance(target, Session) and isinstance(other, Session)

    reply = dae(
        one,
        User_Name="cafe-c",
        Acct_Session_Id=target.session_id,
        Framed_IP_Address=target.framed_ip,
        NAS_IP_Address=one.address,
    )
    assert reply.code == packet.DisconnectACK
    assert one.sessions("cafe-c") == []
    [row] = [r for r in radius.accounting("cafe-c") if r["acctsessionid"] == target.session_id]
    assert row["acctstoptime"] is not None  # written before the ACK left
    assert row["acctterminatecause"] == "Admin-Reset"
    assert [s.session_id for s in two.sessions("cafe-d")] == [other.session_id]  # unaffected


def test_an_unknown_session_or_the_wrong_nas_is_naked_with_its_error_cause(
    radius: RadiusServer, bngs: tuple[BngTwin, BngTwin]
) -> None:
    one, _ = bngs
    radius.add_subscriber("cafe-e", "pw-e")
    held = one.dial("cafe-e", "pw-e")
    assert isinstance(held, Session)
    reply = dae(one, User_Name="nobody-here")
    assert reply.code == packet.DisconnectNAK
    assert reply["Error-Cause"] == ["Session-Context-Not-Found"]
    # every identifier given must match: the right user with another session id is not found
    reply = dae(one, User_Name="cafe-e", Acct_Session_Id="BNG1-NOSUCH")
    assert reply["Error-Cause"] == ["Session-Context-Not-Found"]
    reply = dae(one, User_Name="cafe-e", NAS_IP_Address="127.0.0.99")
    assert reply["Error-Cause"] == ["NAS-Identification-Mismatch"]
    assert [s.session_id for s in one.sessions("cafe-e")] == [held.session_id]


def test_coa_changes_a_held_session_and_is_naked_for_an_unknown_one(
    radius: RadiusServer, bngs: tuple[BngTwin, BngTwin]
) -> None:
    one, _ = bngs
    radius.add_subscriber("cafe-f", "pw-f")
    held = one.dial("cafe-f", "pw-f")
    assert isinstance(held, Session)
    reply = dae(one, code=packet.CoARequest, User_Name="cafe-f", Session_Timeout=600)
    assert reply.code == packet.CoAACK
    [changed] = one.sessions("cafe-f")
    assert changed.changes == (("Session-Timeout", "600"),)
    reply = dae(one, code=packet.CoARequest, User_Name="nobody-here", Session_Timeout=600)
    assert (reply.code, reply["Error-Cause"]) == (packet.CoANAK, ["Session-Context-Not-Found"])


def test_faults_nak_silent_and_wrong_secret(
    radius: RadiusServer, bngs: tuple[BngTwin, BngTwin]
) -> None:
    one, _ = bngs
    radius.add_subscriber("cafe-g", "pw-g")
    held = one.dial("cafe-g", "pw-g")
    assert isinstance(held, Session)

    one.set_fault("nak", 501)
    reply = dae(one, User_Name="cafe-g")
    assert (reply.code, reply["Error-Cause"]) == (
        packet.DisconnectNAK,
        ["Administratively-Prohibited"],
    )
    assert len(one.sessions("cafe-g")) == 1

    one.set_fault("silent")
    with pytest.raises(Timeout):
        dae(one, User_Name="cafe-g", timeout=0.3)
    assert one.requests[-1].answer == "dropped"
    assert len(one.sessions("cafe-g")) == 1

    # the twin acts but signs its ACK with another secret: the client must not believe it
    one.set_fault("wrong_secret")
    with pytest.raises(Timeout):
        dae(one, User_Name="cafe-g", timeout=0.3)
    assert one.requests[-1].answer == "ack"
    assert one.sessions("cafe-g") == []

    one.set_fault()
    again = one.dial("cafe-g", "pw-g")
    assert isinstance(again, Session)
    # a request signed with the wrong secret is dropped without an answer, not NAKed
    with pytest.raises(Timeout):
        dae(one, secret="not-the-dae-secret", User_Name="cafe-g", timeout=0.3)
    assert one.requests[-1].answer == "dropped"
    assert len(one.sessions("cafe-g")) == 1


# --------------------------------------------------------------------------- the lab's city


def test_a_lab_with_subscribers_dials_them_in_and_lists_the_bngs_as_radius_nas(
    tmp_path: Path,
) -> None:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    clock = SimulatedClock(datetime(2026, 11, 24, 15, 0, tzinfo=UTC))
    specs, inventory = city(1, 1)
    subscribers = subscriber_city(2, 2)
    with Lab(specs, subscribers=subscribers, clock=clock.now) as lab:
        radius, one, two = lab.radius, lab.bng("BNG1"), lab.bng("BNG2")
        assert (one.address, two.address) == ("127.0.0.21", "127.0.0.22")
        assert [s.username for s in one.sessions()] == ["sub-1-1", "sub-1-2"]
        open_rows = [r for r in radius.accounting() if r["acctstoptime"] is None]
        assert sorted((r["username"], r["nasipaddress"]) for r in open_rows) == [
            ("sub-1-1", "127.0.0.21"),
            ("sub-1-2", "127.0.0.21"),
            ("sub-2-1", "127.0.0.22"),
            ("sub-2-2", "127.0.0.22"),
        ]
        filled = yaml.safe_load(lab.write_inventory(inventory, tmp_path / "inv.yaml").read_text())
        nas = {d["name"]: d for d in filled["devices"] if d["platform"] == "radius_nas"}
        assert nas["BNG2"] == {
            "name": "BNG2",
            "platform": "radius_nas",
            "host": "127.0.0.22",
            "port": two.dae_port,
            "username": "curfew",
            "password": "lab-dae-secret",
            "options": {"radius_db": radius.db_url},
        }
        assert {"name": "BNG1-S2", "venue": "Cafe BNG1-2", "kind": "subscriber",
                "username": "sub-1-2", "nas": ["BNG1"]} in filled["lines"]  # fmt: skip
        assert {v["name"] for v in filled["venues"]} >= {"Cafe BNG1-1", "Cafe BNG2-2"}
        process_id = radius.pid
        assert process_id is not None
    with pytest.raises(ProcessLookupError):  # stopped by its PID with the lab
        os.kill(process_id, 0)
    with pytest.raises(RuntimeError):
        lab.radius  # noqa: B018


def test_topology_files_describe_bngs_and_subscriber_lines(tmp_path: Path) -> None:
    document = {
        "devices": [{"name": "R1"}],
        "venues": [
            {"name": "Cafe A", "licence": "L-1", "zone": "Asia/Shanghai", "region": "620100"},
            {"name": "Cafe B", "licence": "L-2", "zone": "Asia/Shanghai", "region": "620100"},
        ],
        "bngs": [{"name": "BNG1"}, {"name": "BNG2", "fault": "nak", "error_cause": 501}],
        "lines": [
            {"name": "R1-L1", "venue": "Cafe A", "device": "R1",
             "interface": "GigabitEthernet0/1", "prefixes": ["198.18.1.0/24"]},
            {"name": "S1", "venue": "Cafe B", "kind": "subscriber", "username": "cafe-b@isp",
             "nas": ["BNG1", "BNG2"], "password": "pw", "online": False},
        ],
    }  # fmt: skip
    path = tmp_path / "city.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    _, inventory = load_topology(path)
    assert [line["name"] for line in inventory["lines"]] == ["R1-L1"]  # the lab adds S1
    subscribers = load_subscribers(path)
    assert [(b.name, b.address, b.pool, b.fault) for b in subscribers.bngs] == [
        ("BNG1", "127.0.0.21", "10.64.1.0/24", None),
        ("BNG2", "127.0.0.22", "10.64.2.0/24", "nak"),
    ]
    [line] = subscribers.lines
    assert (line.username, line.nas, line.online) == ("cafe-b@isp", ("BNG1", "BNG2"), False)

    document["lines"][1]["nas"] = ["BNG9"]
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(ValueError, match="no BNG named BNG9"):
        load_topology(path)
    document["lines"][1]["nas"] = ["BNG1"]
    document["lines"][1]["username"] = "cafe b"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(ValueError, match="username"):
        load_subscribers(path)
    with pytest.raises(ValueError, match="needs a clock"):
        Lab([], subscribers=subscriber_city(1, 1))


def test_the_demo_without_freeradius_leaves_subscribers_out_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from api import demo

    monkeypatch.setattr(demo, "unavailable_reason", lambda: "FreeRADIUS is not installed (here)")
    printed: list[str] = []
    assert demo.run_demo(echo=printed.append) == 0, "\n".join(printed)
    assert printed[0] == "subscribers left out of the demo city: FreeRADIUS is not installed (here)"
    assert printed[1].startswith("demo city: 5 routers, 15 venues")
    assert not any("BNG" in text for text in printed)


def test_serve_lab_with_bngs_prints_them_and_writes_an_inventory_the_controller_imports(
    tmp_path: Path,
) -> None:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    clock = SimulatedClock(datetime(2026, 11, 24, 15, 0, tzinfo=UTC))
    specs, inventory = city(1, 1)
    out = tmp_path / "lab-inventory.yaml"
    printed: list[str] = []
    stop, ready = threading.Event(), threading.Event()

    def echo(text: str) -> None:
        printed.append(text)
        if len(printed) == 4:  # R1, the RADIUS server, BNG1, BNG2
            ready.set()

    thread = threading.Thread(
        target=serve_lab,
        args=(specs, inventory, out),
        kwargs={
            "echo": echo,
            "stop_event": stop,
            "subscribers": subscriber_city(2, 1),
            "clock": clock.now,
        },
    )
    thread.start()
    try:
        assert ready.wait(30), printed
        written = yaml.safe_load(out.read_text(encoding="utf-8"))
        nas = {d["name"]: d for d in written["devices"] if d["platform"] == "radius_nas"}
        assert printed[1].startswith("RADIUS freeradius 127.0.0.1:")
        assert printed[2:] == [
            f"BNG1 radius_nas 127.0.0.21:{nas['BNG1']['port']} (1 session: sub-1-1 10.64.1.2)",
            f"BNG2 radius_nas 127.0.0.22:{nas['BNG2']['port']} (1 session: sub-2-1 10.64.2.2)",
        ]
        store = Store.open(f"sqlite:///{tmp_path / 'curfew.db'}", clock=clock)
        try:
            import_document(store, written, "lab city with subscribers")
            subscribers = {ln.name: ln for ln in store.lines() if ln.kind == "subscriber"}
        finally:
            store.close()
        assert sorted(subscribers) == ["BNG1-S1", "BNG2-S1"]
        assert (subscribers["BNG2-S1"].username, subscribers["BNG2-S1"].nas) == (
            "sub-2-1",
            ("BNG2",),
        )
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()


def test_lab_up_with_bngs_runs_freeradius_and_leaves_no_process_after_sigterm(
    tmp_path: Path,
) -> None:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    inventory_file = tmp_path / "lab.yaml"
    lab = subprocess.Popen(
        [CURFEW, "lab", "up", "--devices", "1", "--lines-per-device", "1", "--processes", "0",
         "--bngs", "2", "--subscribers-per-bng", "2", "--inventory-out", str(inventory_file)],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    printed: list[str] = []
    try:
        assert lab.stdout is not None
        for line in lab.stdout:  # bounded: the lab prints four lines, then waits
            printed.append(line.rstrip("\n"))
            if len(printed) == 4 or lab.poll() is not None:
                break
        devices = yaml.safe_load(inventory_file.read_text(encoding="utf-8"))["devices"]
        ports = [d["port"] for d in devices if d["platform"] == "radius_nas"]
        assert printed[2:] == [
            f"BNG1 radius_nas 127.0.0.21:{ports[0]} (2 sessions: sub-1-1 10.64.1.2, "
            "sub-1-2 10.64.1.3)",
            f"BNG2 radius_nas 127.0.0.22:{ports[1]} (2 sessions: sub-2-1 10.64.2.2, "
            "sub-2-2 10.64.2.3)",
        ], printed
        radius_pid = int(printed[1].split("pid ")[1].split(")")[0])
        os.kill(radius_pid, 0)  # FreeRADIUS runs
        lab.send_signal(signal.SIGTERM)
        assert lab.wait(timeout=30) == 0, printed
    finally:
        if lab.poll() is None:
            lab.kill()
            lab.wait(timeout=10)
    with pytest.raises(ProcessLookupError):  # stopped by its PID with `lab up`
        os.kill(radius_pid, 0)


def test_lab_up_with_bngs_without_freeradius_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    import lab.freeradius

    monkeypatch.setattr(lab.freeradius, "unavailable_reason", lambda: "no FreeRADIUS (here)")
    result = CliRunner().invoke(app, ["lab", "up", "--bngs", "1"])
    assert result.exit_code == 2
    assert "BNGs need a RADIUS server: no FreeRADIUS (here)" in result.output


def test_the_broadband_city_topology_describes_two_bngs_and_four_subscribers() -> None:
    path = Path(__file__).resolve().parents[2] / "lab" / "topologies" / "broadband-city.yaml"
    specs, inventory = load_topology(path)
    subscribers = load_subscribers(path)
    assert [s.name for s in specs] == ["R1"]
    assert [line["name"] for line in inventory["lines"]] == ["R1-L1", "R1-L2"]
    assert [(b.name, b.fault, b.error_cause) for b in subscribers.bngs] == [
        ("BNG1", None, 506),
        ("BNG2", "nak", 501),
    ]
    assert [(s.name, s.nas, s.online) for s in subscribers.lines] == [
        ("BNG1-S1", ("BNG1",), True),
        ("BNG1-S2", ("BNG1", "BNG2"), True),
        ("BNG2-S1", ("BNG2",), True),
        ("BNG2-S2", ("BNG2",), False),
    ]


def test_a_retransmitted_disconnect_gets_the_same_ack_and_acts_once(
    radius: RadiusServer, bngs: tuple[BngTwin, BngTwin]
) -> None:
    one, _ = bngs
    radius.add_subscriber("cafe-h", "pw-h")
    held = one.dial("cafe-h", "pw-h")
    assert isinstance(held, Session)
    request = packet.CoAPacket(
        code=packet.DisconnectRequest, secret=one.dae_secret.encode(), dict=dictionary()
    )
    request["User-Name"] = "cafe-h"
    raw = request.RequestPacket()
    before = len(one.requests)
    answers = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(2)
        for _ in range(2):  # the client did not hear the first answer and sends it again
            client.sendto(raw, (one.address, one.dae_port))
            answers.append(client.recv(4096))
    assert answers[0] == answers[1]
    assert answers[0][0] == packet.DisconnectACK
    assert [r.answer for r in one.requests[before:]] == ["ack"]
    assert one.retransmissions == 1
    stopped = [r for r in radius.accounting("cafe-h") if r["acctstoptime"] is not None]
    assert [r["acctsessionid"] for r in stopped] == [held.session_id]


def test_a_restarted_bng_keeps_its_dae_port_and_closes_what_radacct_thought_it_held(
    radius: RadiusServer, bngs: tuple[BngTwin, BngTwin], clock: SimulatedClock
) -> None:
    _, two = bngs
    radius.add_subscriber("cafe-i", "pw-i")
    held = two.dial("cafe-i", "pw-i")
    assert isinstance(held, Session)
    port = two.dae_port
    two.close()  # power lost: no Accounting Stop
    [row] = [r for r in radius.accounting("cafe-i") if r["acctsessionid"] == held.session_id]
    assert row["acctstoptime"] is None
    clock.advance(timedelta(minutes=3))
    two.start()  # Accounting-On
    assert two.dae_port == port and two.sessions() == []
    [row] = [r for r in radius.accounting("cafe-i") if r["acctsessionid"] == held.session_id]
    assert (row["acctstoptime"], row["acctterminatecause"]) == ("2026-11-24 15:03:00", "NAS-Reboot")

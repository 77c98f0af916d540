"""Subscriber lines in the inventory (issue 11): imported and exported as {name, venue, kind:
subscriber, username, nas}, every identifier checked with the reason, the NAS devices' RADIUS
database named without a password; `curfew venues unlicensed` lists subscriber lines too."""

from __future__ import annotations

import copy
import csv
import io
import json
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.cli.inventory import export_document
from controller.credentials import OutsideManagementNetworks, Vault, session_credentials
from controller.inventory import InventoryError, import_document
from controller.store import Store

RADIUS_DB = "sqlite:////var/lib/freeradius/radius.sqlite"

CITY: dict[str, Any] = {
    "devices": [
        {"name": "bng-1", "platform": "radius_nas", "host": "127.0.0.21", "port": 3799,
         "username": "curfew", "password_ref": "bng-1-dae", "carrier": "City Broadband",
         "options": {"radius_db": RADIUS_DB}},
        {"name": "bng-2", "platform": "radius_nas", "host": "127.0.0.22", "port": 3799,
         "username": "curfew", "password_ref": "bng-2-dae", "carrier": "City Broadband",
         "options": {"radius_db": RADIUS_DB, "dae_timeout": "1.5"}},
        {"name": "R1", "platform": "cisco_ios", "host": "127.0.0.1", "port": 22,
         "username": "curfew", "password_ref": "r1"},
    ],
    "venues": [
        {"name": "Cafe Dial", "licence": "LIC-9", "zone": "Asia/Shanghai"},
        {"name": "Cafe Port", "licence": "LIC-8", "zone": "Asia/Shanghai"},
    ],
    "lines": [
        {"name": "sub-dial", "venue": "Cafe Dial", "kind": "subscriber",
         "username": "dial.user@cityband", "nas": ["bng-2", "bng-1"]},
        {"name": "port-1", "venue": "Cafe Port", "device": "R1",
         "interface": "GigabitEthernet0/1", "prefixes": ["198.18.1.0/24"]},
    ],
}  # fmt: skip


def city() -> dict[str, Any]:
    return copy.deepcopy(CITY)


def refused(store: Store, document: dict[str, Any]) -> str:
    with pytest.raises(InventoryError) as caught:
        import_document(store, document, "bad file")
    assert store.lines() == [], "nothing of a refused file is imported"
    return "\n".join(caught.value.problems)


def test_a_subscriber_line_is_stored_on_its_first_nas_and_becomes_a_subscriber_target(
    store: Store,
) -> None:
    import_document(store, city(), "city")

    line = next(ln for ln in store.lines() if ln.name == "sub-dial")
    devices = {d.id: d.name for d in store.devices()}
    assert (line.kind, line.username, line.nas) == ("subscriber", "dial.user@cityband",
                                                    ("bng-2", "bng-1"))  # fmt: skip
    assert devices[line.device_id] == "bng-2" and line.interface == "" and line.prefixes == ()
    assert line.id is not None
    target = store.snapshot().targets[line.id]
    assert (target.username, target.nas, target.interface, target.prefixes) == (
        "dial.user@cityband",
        ("bng-2", "bng-1"),
        "",
        (),
    )
    port = next(ln for ln in store.lines() if ln.name == "port-1")
    assert port.kind == "port" and port.username is None


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"username": "bob smith"}, "subscriber username"),
        ({"username": "bob\nreload"}, "subscriber username"),
        ({"username": "x" * 65}, "username"),
        ({"nas": []}, "nas"),
        ({"nas": ["bng-1", "bng-1"]}, "a NAS is named more than once"),
        ({"nas": ["R1"]}, "nas: 'R1' is a cisco_ios device, not a radius_nas"),
        ({"nas": ["bng-9"]}, "nas: no device 'bng-9' in this file or the store"),
        ({"interface": "GigabitEthernet0/2"}, "a subscriber line has no interface"),
        ({"prefixes": ["198.18.9.0/24"]}, "a subscriber line has no prefixes"),
        ({"device": "bng-1"}, "a subscriber line has no device"),
        ({"username": None}, "a subscriber line needs username"),
    ],
)
def test_a_bad_subscriber_line_is_refused_with_its_reason(
    store: Store, change: dict[str, Any], problem: str
) -> None:
    document = city()
    line = document["lines"][0]
    line.update(change)
    if line["username"] is None:
        del line["username"]
    assert problem in refused(store, document)


def test_every_problem_names_its_row_where_it_is_in_the_file(store: Store) -> None:
    # rows before it that fail their own checks must not shift the row a later check names
    document = city()
    document["devices"].insert(0, {"name": "broken", "platform": "cisco_ios"})
    document["devices"][2]["host"] = "bng-2.example"  # bng-2: a NAS named by a host name
    document["lines"].insert(0, {"name": "sub-bad", "venue": "Cafe Dial", "kind": "subscriber",
                                 "username": "bob smith", "nas": ["bng-1"]})  # fmt: skip
    document["lines"][1]["nas"] = ["R1"]  # sub-dial on a router
    document["lines"][2]["device"] = "bng-1"  # port-1 on a NAS
    problems = refused(store, document)
    assert "lines[0] ('sub-bad'): username: subscriber username 'bob smith'" in problems
    assert "devices[2] ('bng-2'): host: a radius_nas is named by its NAS-IP-Address" in problems
    assert "lines[1] ('sub-dial'): nas: 'R1' is a cisco_ios device" in problems
    assert "lines[2] ('port-1'): device: 'bng-1' is a radius_nas" in problems


def test_port_fields_and_subscriber_fields_do_not_mix(store: Store) -> None:
    document = city()
    document["lines"][1]["username"] = "someone"
    assert "username: only a subscriber line has them" in refused(store, document)
    document = city()
    document["lines"][1]["device"] = "bng-1"
    assert "'bng-1' is a radius_nas: only subscriber lines" in refused(store, document)


def test_one_username_is_one_line(store: Store) -> None:
    document = city()
    document["lines"].append(dict(document["lines"][0], name="sub-again"))
    assert "username: 'dial.user@cityband' already belongs to line 'sub-dial'" in refused(
        store, document
    )


@pytest.mark.parametrize(
    ("options", "host", "problem"),
    [
        ({"radius_db": "postgresql://radius:hunter2@10.0.0.5/radius"}, "127.0.0.21",
         "the URL holds a password"),
        ({"radius_db": "mysql://radius@10.0.0.5/radius"}, "127.0.0.21", "'mysql' is not supported"),
        ({"radius_db": "sqlite:///a b.db"}, "127.0.0.21", "must be an SQLAlchemy URL"),
        # libpq's own parameters would send the password past the management networks' check
        ({"radius_db": "postgresql://radius@10.0.0.5/radius?host=203.0.113.9"}, "127.0.0.21",
         "radius_db: the URL may not give host"),
        ({"radius_db": "postgresql://radius@/radius?hostaddr=203.0.113.9&service=x"},
         "127.0.0.21", "radius_db: the URL may not give hostaddr, service"),
        ({}, "127.0.0.21", "a radius_nas needs radius_db"),
        ({"radius_db": RADIUS_DB}, "bng-1.example", "an IP address, not a host name"),
        # the driver's timing options, refused at import rather than failing every pass
        ({"radius_db": RADIUS_DB, "dae_tries": "99"}, "127.0.0.21",
         "options: option dae_tries must be 1..10, not '99'"),
        ({"radius_db": RADIUS_DB, "dae_timeout": "0"}, "127.0.0.21",
         "options: option dae_timeout must be seconds in (0, 60]"),
        ({"radius_db": RADIUS_DB, "acct_stop_wait": "nan"}, "127.0.0.21",
         "options: option acct_stop_wait must be seconds in (0, 60]"),
    ],
)  # fmt: skip
def test_a_nas_names_its_radius_database_without_a_password(
    store: Store, options: dict[str, str], host: str, problem: str
) -> None:
    document = city()
    document["devices"][0].update(options=options, host=host)
    assert problem in refused(store, document)


def test_the_nas_devices_of_a_line_share_one_radius_database(store: Store) -> None:
    document = city()
    document["devices"][1]["options"]["radius_db"] = "postgresql://radius@10.0.0.5/radius"
    assert "must share one radius_db" in refused(store, document)
    document = city()
    document["devices"][2]["options"] = {"radius_db": RADIUS_DB}
    assert "radius_db is an option of radius_nas devices only" in refused(store, document)


def test_a_device_s_session_layer_is_one_its_platform_offers(store: Store) -> None:
    document = city()
    document["devices"][2]["options"] = {"session": "telnet"}
    assert "session 'telnet' is not offered by cisco_ios: one of netmiko, asyncssh" in refused(
        store, document
    )
    document = city()
    document["devices"][0]["options"]["session"] = "asyncssh"
    assert "session 'asyncssh' is not offered by radius_nas: it offers no choice" in refused(
        store, document
    )
    document = city()
    document["devices"][2]["options"] = {"session": "asyncssh"}
    import_document(store, document, "city")
    (r1,) = [d for d in store.devices() if d.name == "R1"]
    assert r1.options == {"session": "asyncssh"}


def test_export_gives_back_a_subscriber_line_as_it_was_imported(store: Store) -> None:
    import_document(store, city(), "city")
    exported, _ = export_document(store)
    line = {"name": "sub-dial", "venue": "Cafe Dial", "kind": "subscriber",
            "username": "dial.user@cityband", "nas": ["bng-2", "bng-1"]}  # fmt: skip
    assert line in exported["lines"]

    moved = copy.deepcopy(exported)
    next(ln for ln in moved["lines"] if ln["name"] == "sub-dial")["nas"] = ["bng-1"]
    report = import_document(store, moved, "again")
    assert report.updated["lines"] == 2
    stored = next(ln for ln in store.lines() if ln.name == "sub-dial")
    assert stored.nas == ("bng-1",)


def test_venues_unlicensed_lists_subscriber_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'curfew.db'}"  # as an operator names it to the CLI
    store = Store.open(url)
    import_document(store, city(), "city")  # no licence register: every venue is unlicensed
    store.close()
    monkeypatch.setenv("CURFEW_DATABASE_URL", url)

    result = CliRunner().invoke(app, ["venues", "unlicensed", "--format", "csv"])

    assert result.exit_code == 0, result.output
    rows = {row["line"]: row for row in csv.DictReader(io.StringIO(result.stdout))}
    assert rows["sub-dial"]["venue"] == "Cafe Dial" and rows["sub-dial"]["why"] == "missing"
    assert rows["sub-dial"]["subscriber"] == "dial.user@cityband"
    assert rows["sub-dial"]["device"] == "bng-2 bng-1"
    assert rows["sub-dial"]["carrier"] == "City Broadband"
    assert (
        rows["port-1"]["subscriber"] == "" and rows["port-1"]["interface"] == "GigabitEthernet0/1"
    )

    listed = CliRunner().invoke(app, ["inventory", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    line = next(ln for ln in json.loads(listed.stdout)["lines"] if ln["name"] == "sub-dial")
    assert (line["kind"], line["username"], line["nas"]) == (
        "subscriber",
        "dial.user@cityband",
        ["bng-2", "bng-1"],
    )


def test_a_radius_database_outside_the_management_networks_is_refused(store: Store) -> None:
    """The database password (the NAS's secret) is sent there: the rule of every device host."""
    limited = Store(store.engine, store.clock,
                    vault=Vault(networks=(ip_network("127.0.0.0/8"),)))  # fmt: skip
    document = city()
    for device in document["devices"][:2]:
        device["options"]["radius_db"] = "postgresql://radius@10.0.0.5/radius"
    problems = refused(limited, document)
    assert "options: radius_db: 10.0.0.5 is outside CURFEW_MANAGEMENT_NETWORKS" in problems

    import_document(store, document, "imported before the networks were limited")
    nas = next(d for d in limited.devices() if d.name == "bng-1")
    with pytest.raises(OutsideManagementNetworks, match="10.0.0.5"):
        session_credentials(nas, timeout=5)


def test_a_device_s_keepalive_is_whole_seconds_up_to_an_hour(store: Store) -> None:
    for bad in ("-5", "1.5", "3601", "often"):
        document = city()
        document["devices"][2]["options"] = {"keepalive": bad}
        assert f"options: keepalive must be 0..3600 seconds, got {bad!r}" in refused(
            store, document
        )
    document = city()
    document["devices"][2]["options"] = {"keepalive": "30"}
    import_document(store, document, "city")
    (r1,) = [d for d in store.devices() if d.name == "R1"]
    assert r1.options == {"keepalive": "30"}

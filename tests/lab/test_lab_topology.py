"""Cities of lab routers, topology files, the inventory the lab writes, `serve_lab`."""

from __future__ import annotations

import socket
import threading
from ipaddress import ip_network
from pathlib import Path

import pytest
import yaml

from controller.inventory import import_document
from controller.store import Store
from drivers.identifiers import check_interface
from lab.topology import DeviceSpec, Lab, city, load_topology, serve_lab, write_inventory

pytestmark = pytest.mark.lab


def test_city_has_unique_lines_venues_and_prefixes() -> None:
    specs, inventory = city(3, 4)
    assert [s.name for s in specs] == ["R1", "R2", "R3"]
    assert list(inventory) == ["authorities", "devices", "venues", "lines"]
    assert inventory["authorities"] == [{"name": "city-bureau", "regions": ["620100"]}]
    assert len(inventory["venues"]) == len(inventory["lines"]) == 12
    first = inventory["lines"][0]
    assert first == {
        "name": "R1-L1",
        "venue": "Venue R1-1",
        "device": "R1",
        "interface": "GigabitEthernet0/1",
        "prefixes": ["198.18.1.0/24", "2001:db8:1:1::/64"],
    }
    assert inventory["venues"][0] == {
        "name": "Venue R1-1",
        "licence": "LIC-0001",
        "zone": "Asia/Shanghai",
        "region": "620100",
    }
    prefixes = [ip_network(p) for line in inventory["lines"] for p in line["prefixes"]]
    assert len(set(prefixes)) == len(prefixes)
    for line in inventory["lines"]:
        spec = next(s for s in specs if s.name == line["device"])
        assert line["interface"] in spec.interfaces
        check_interface("cisco_ios", line["interface"])


def test_big_city_shrinks_ipv4_blocks_to_stay_unique_and_in_range() -> None:
    _, inventory = city(40, 30)
    v4 = [ip_network(line["prefixes"][0]) for line in inventory["lines"]]
    assert len(set(v4)) == 1200
    assert all(p.subnet_of(ip_network("198.18.0.0/15")) for p in v4)
    assert {p.prefixlen for p in v4} == {26}  # 2048 blocks for 1200 lines
    assert not any(a.overlaps(b) for a, b in zip(v4, v4[1:], strict=False))


def test_city_routers_carry_foreign_config_the_controller_must_not_touch() -> None:
    specs, _ = city(1, 2)
    config = specs[0].build_router().running_config()
    assert "interface GigabitEthernet0/0\n description uplink\n ip address 100.64.0.1" in config
    assert " ip access-group MGMT-ACCESS in\n" in config
    assert "ip access-list extended MGMT-ACCESS\n permit ip 192.0.2.0 0.0.0.255 any\n" in config
    assert "\nntp server 192.0.2.123\n" in config
    assert "\nlogging host 192.0.2.50\n" in config
    assert (
        "interface GigabitEthernet0/2\n description line R1-L2\n"
        " ip address 198.18.2.1 255.255.255.0\n ipv6 address 2001:DB8:1:2::1/64\n!\n"
    ) in config
    assert " ipv6 address 2001:DB8:1:2::1/64\n" in config


def test_base_port_numbers_devices_in_order() -> None:
    specs, _ = city(3, 1, base_port=41000)
    assert [s.port for s in specs] == [41000, 41001, 41002]


def test_lab_writes_an_inventory_the_controller_imports(tmp_path: Path, store: Store) -> None:
    specs, inventory = city(2, 2)
    with Lab(specs) as lab:
        path = write_inventory(lab, inventory, tmp_path / "inventory.yaml")
        written = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert written["devices"] == [
            {
                "name": name,
                "platform": "cisco_ios",
                "host": "127.0.0.1",
                "port": lab.port(name),
                "username": "curfew",
                "password": "lab-password",
                "secret": "lab-enable",
                "host_key": lab.host_key(name),  # the key the device offers, pinned at import
            }
            for name in ("R1", "R2")
        ]
        assert all(d["port"] > 0 for d in written["devices"])
        assert written["devices"][0]["host_key"] != written["devices"][1]["host_key"]
        assert written["lines"] == inventory["lines"]
        assert written["venues"] == inventory["venues"]
        import_document(store, written, "lab city")


TOPOLOGY = """
authorities:
  - {name: city-bureau, regions: ["620100"]}
devices:
  - name: R1
    latency_ms: 50
    reject: ["^ntp"]
    hang_up_on: 12
  - name: R2
    interfaces: [GigabitEthernet0/0, GigabitEthernet0/5]
    config: ["ntp server 192.0.2.123"]
    drop_after: 7
venues:
  - {name: "网吧 One", licence: LIC-1, zone: Asia/Shanghai, region: "620100"}
  - {name: Cafe Two, licence: LIC-2, zone: Asia/Shanghai, region: 620100}
lines:
  - {name: R1-L1, venue: "网吧 One", device: R1, interface: GigabitEthernet0/3,
     prefixes: ["198.18.1.0/24", "2001:db8:1:1::/64"]}
  - {name: R2-L1, venue: Cafe Two, device: R2, interface: GigabitEthernet0/5,
     prefixes: ["198.18.2.0/24"]}
"""


def test_load_topology_builds_specs_with_faults_and_the_inventory(tmp_path: Path) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(TOPOLOGY, encoding="utf-8")
    specs, inventory = load_topology(path)
    r1, r2 = specs
    assert r1.interfaces == ("GigabitEthernet0/0", "GigabitEthernet0/3")
    assert r1.latency_ms == 50 and r1.reject == ("^ntp",) and r1.hang_up_on == 12
    assert r2.drop_after == 7 and r2.interfaces == ("GigabitEthernet0/0", "GigabitEthernet0/5")
    assert inventory["venues"][1]["region"] == "620100"
    assert inventory["lines"][0]["prefixes"] == ["198.18.1.0/24", "2001:db8:1:1::/64"]
    config = r2.build_router().running_config()
    assert "interface GigabitEthernet0/5\n description line R2-L1\n ip address 198.18.2.1" in config
    assert "ntp server 192.0.2.123" in config


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("    latency_ms: 50", "    latency_ms: fast"), r"device #1 \(R1\): latency_ms"),
        (("    hang_up_on: 12", "    hang_up_on: 0"), r"device #1 \(R1\): hang_up_on"),
        (("    drop_after: 7", "    drop_after: 7\n    colour: red"), r"device #2 \(R2\).*colour"),
        (("device: R2,", "device: R9,"), r"line #2 \(R2-L1\): no device named 'R9'"),
        (('["198.18.2.0/24"]', '["198.18.2.1/24"]'), r"line #2 \(R2-L1\).*198.18.2.1/24"),
        (('["198.18.2.0/24"]', '["198.18.1.128/25"]'), r"line #2 \(R2-L1\).*overlaps"),
        (("GigabitEthernet0/5,\n", "GigabitEthernet0/6,\n"), r"R2-L1.*no interface"),
        (("zone: Asia/Shanghai, region: 620100", "zone: Mars/Base"), r"venue #2 \(Cafe Two\)"),
        (("venue: Cafe Two,", "venue: Cafe Three,"), r"line #2.*no venue named"),
        (('config: ["ntp server 192.0.2.123"]', 'config: ["frob"]'), r"device R2.*frob"),
        (("interface: GigabitEthernet0/3", "interface: Gi0/3"), r"line #1 \(R1-L1\)"),
    ],
)
def test_bad_topologies_raise_value_errors_naming_the_entry(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    old, new = edit
    assert old in TOPOLOGY
    path = tmp_path / "topology.yaml"
    path.write_text(TOPOLOGY.replace(old, new), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_topology(path)


def test_lab_rejects_duplicate_names_and_bad_specs() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Lab([DeviceSpec("R1"), DeviceSpec("R1")])
    with pytest.raises(ValueError):
        DeviceSpec("R1", interfaces=("Gi0/1",))
    with pytest.raises(ValueError):
        DeviceSpec("R1", platform="huawei")


def test_serve_lab_writes_inventory_prints_devices_and_stops_on_request(tmp_path: Path) -> None:
    specs, inventory = city(2, 1)
    out = tmp_path / "lab-inventory.yaml"
    printed: list[str] = []
    stop = threading.Event()
    ready = threading.Event()

    def echo(text: str) -> None:
        printed.append(text)
        if len(printed) == 2:
            ready.set()

    thread = threading.Thread(
        target=serve_lab, args=(specs, inventory, out), kwargs={"echo": echo, "stop_event": stop}
    )
    thread.start()
    try:
        assert ready.wait(20)
        devices = yaml.safe_load(out.read_text(encoding="utf-8"))["devices"]
        assert printed == [f"{d['name']} cisco_ios 127.0.0.1:{d['port']}" for d in devices]
        socket.create_connection(("127.0.0.1", devices[0]["port"]), timeout=2).close()
    finally:
        stop.set()
        thread.join(20)
    assert not thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", devices[0]["port"]), timeout=2).close()

"""Real packets: the linux_nftables driver cuts a venue on a Linux router in network namespaces,
and traffic is measured (ping and TCP, IPv4 and IPv6, both directions), not configuration read.
Also the twin's own namespaces: made on start, gone on stop, and the shell it serves.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from ipaddress import ip_network

import pytest
from netmiko import ConnectHandler

from drivers.base import Batch, Credentials, LineState, LineTarget
from drivers.linux_nftables import LinuxNftablesDriver
from drivers.registry import driver_for
from lab.linux_nftables import TWIN
from lab.netns import INTERNET_V4, INTERNET_V6, PacketLab, unavailable, venue_prefixes
from lab.topology import DeviceSpec, Lab, city

pytestmark = pytest.mark.lab

PORT = 8042
# Foreign rules on the router: a forward chain of its own that accepts first. `accept` ends
# only that chain, so the owned drop must still cut (and this table must survive untouched).
FOREIGN = """\
add table inet filter
add chain inet filter forward { type filter hook forward priority -10; policy accept; }
add rule inet filter forward ct state established,related accept
add rule inet filter forward accept
"""


@pytest.fixture
def packet_lab() -> Iterator[PacketLab]:
    reason = unavailable(("ip", "nft", "ping"))
    if reason:
        pytest.skip(reason)
    with PacketLab() as lab:
        yield lab


def namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    return {row.split()[0] for row in listed.stdout.splitlines() if row.strip()}


def reachability(lab: PacketLab) -> dict[str, bool]:
    """Every probe between the venues and the internet, run at once (each bounded to ~1 s)."""
    up = lab.host("upstream")
    probes = {}
    for k in (1, 2):
        venue = lab.host(f"venue{k}")
        role = venue.role
        probes |= {
            f"{role} ping -> internet v4": lambda r=role: lab.ping(r, INTERNET_V4.ip),
            f"{role} ping -> internet v6": lambda r=role: lab.ping(r, INTERNET_V6.ip),
            f"{role} tcp -> internet v4": lambda r=role: lab.connect(r, INTERNET_V4.ip, PORT),
            f"{role} tcp -> internet v6": lambda r=role: lab.connect(r, INTERNET_V6.ip, PORT),
            f"upstream ping -> {role} v4": lambda v=venue: lab.ping("upstream", v.ipv4.ip),
            f"upstream ping -> {role} v6": lambda v=venue: lab.ping("upstream", v.ipv6.ip),
            f"upstream tcp -> {role} v4": lambda v=venue: lab.connect(up.role, v.ipv4.ip, PORT),
            f"upstream tcp -> {role} v6": lambda v=venue: lab.connect(up.role, v.ipv6.ip, PORT),
        }
    with ThreadPoolExecutor(len(probes)) as pool:
        futures = {name: pool.submit(probe) for name, probe in probes.items()}
        return {name: future.result(timeout=15) for name, future in futures.items()}


def test_a_cut_through_the_driver_stops_real_traffic_both_ways_and_a_restore_brings_it_back(
    packet_lab: PacketLab,
) -> None:
    lab = packet_lab
    subprocess.run(
        ["ip", "netns", "exec", lab.router, "nft", "-f", "-"],
        input=FOREIGN, text=True, check=True, timeout=10,
    )  # fmt: skip
    foreign_before = _list(lab, "inet", "filter")
    driver = LinuxNftablesDriver("router", Credentials(f"netns:{lab.router}", 0, "", ""))
    line42 = LineTarget(42, lab.venue_port(1), venue_prefixes(1))

    with (
        lab.listener("upstream", PORT),
        lab.listener("venue1", PORT),
        lab.listener("venue2", PORT),
    ):
        before = reachability(lab)
        cut = driver.apply(Batch(cuts=(line42,)))
        during = reachability(lab)
        restored = driver.apply(Batch(restores=(line42,)))
        after = reachability(lab)

    assert all(before.values()), f"the lab must carry traffic first: {before}"
    assert cut.ok and cut.outcomes[0].state_after is LineState.CUT, cut
    venue1 = {name: ok for name, ok in during.items() if "venue1" in name}
    venue2 = {name: ok for name, ok in during.items() if "venue2" in name}
    assert len(venue1) == len(venue2) == 8
    assert not any(venue1.values()), f"venue1 still reaches or is reached: {venue1}"
    assert all(venue2.values()), f"venue2 was cut too: {venue2}"
    assert restored.ok and restored.outcomes[0].state_after is LineState.OPEN, restored
    assert all(after.values()), f"not everything came back: {after}"
    assert _list(lab, "inet", "filter") == foreign_before
    assert "curfew" not in _list(lab)


def _list(lab: PacketLab, *table: str) -> str:
    what = ["table", *table] if table else ["ruleset"]
    done = subprocess.run(
        ["ip", "netns", "exec", lab.router, "nft", "list", *what],
        capture_output=True, text=True, check=True, timeout=10,
    )  # fmt: skip
    return done.stdout


def test_the_packet_lab_removes_exactly_its_namespaces(packet_lab: PacketLab) -> None:
    made = set(packet_lab.namespaces.values())
    assert made <= namespaces()
    unrelated = namespaces() - made

    packet_lab.close()

    assert not made & namespaces()
    assert unrelated <= namespaces()


# ------------------------------------------------------------------------------ the SSH twin


@pytest.fixture
def can_make_namespaces() -> None:
    reason = unavailable()
    if reason:
        pytest.skip(reason)


def spec(name: str = "R1", **fields: object) -> DeviceSpec:
    return DeviceSpec(
        name,
        platform="linux_nftables",
        interfaces=("eth0", "eth1", "eth2"),
        config=tuple(TWIN.base_config("100.64.0.1")),
        **fields,  # type: ignore[arg-type]
    )


def test_building_a_twin_makes_no_namespace_and_a_stopped_lab_leaves_none(
    can_make_namespaces: None,
) -> None:
    before = namespaces()
    built = spec().build_router()
    assert namespaces() == before and built.namespace not in before

    lab = Lab([spec("R1"), spec("R2")]).start()
    try:
        running = {lab.router(name).namespace for name in ("R1", "R2")}
        assert running <= namespaces()
    finally:
        lab.stop()
    assert not running & namespaces()


def test_the_twin_shell_runs_nft_for_real_and_nothing_else(can_make_namespaces: None) -> None:
    with Lab([spec()]) as lab:
        router = lab.router("R1")
        connection = {**lab.connection("R1"), "device_type": "linux"}
        with ConnectHandler(**connection, fast_cli=True) as session:
            tables = session.send_command("sudo -n nft list tables")
            not_root = session.send_command("nft list tables")
            other = session.send_command("cat /etc/passwd")
            chained = session.send_command("sudo -n nft list tables; id")
            wrong = session.send_command("sudo -n nft add rule inet nosuch forward drop")

        assert tables.split() == ["table", "inet", "filter", "table", "ip", "nat"]
        assert "Operation not permitted" in not_root
        assert "command not found" in other and "root:" not in other
        assert "one command per line" in chained
        assert "Error: Could not process rule: No such file or directory" in wrong
        assert router.running_config() == router.startup_config


def test_a_city_mixes_cisco_and_linux_routers_and_both_cut(can_make_namespaces: None) -> None:
    specs, inventory = city(3, 4, platforms=("cisco_ios", "linux_nftables"))
    assert [s.platform for s in specs] == ["cisco_ios", "linux_nftables", "cisco_ios"]
    with Lab(specs) as lab:
        results = {}
        for device in ("R1", "R2"):
            found = next(s for s in lab.specs if s.name == device)
            lines = [entry for entry in inventory["lines"] if entry["device"] == device]
            targets = tuple(
                LineTarget(100 + n, entry["interface"], tuple(map(ip_network, entry["prefixes"])))
                for n, entry in enumerate(lines)
            )
            credentials = Credentials(
                lab.host, found.port, found.username, found.password, found.secret,
                host_key=found.host_key,
            )  # fmt: skip
            with driver_for(found.platform)(device, credentials) as driver:
                results[device] = driver.apply(Batch(cuts=targets))
        addresses = lab.router("R2").ip(["-br", "address", "show", "eth1"]).stdout

    assert all(result.ok for result in results.values()), results
    assert "198.18" in addresses and "2001:db8:2:1::1/64" in addresses

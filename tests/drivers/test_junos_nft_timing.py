"""Device-timed cuts on Linux nftables, against real nft: the twin's shell over SSH (its clock
given by the test), and a router in the packet lab whose kernel decides on its own real clock
whether the armed drops are in force (measured with real packets, not read from config)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from ipaddress import ip_network

import pytest

from controller.clock import SimulatedClock
from drivers.base import Batch, Credentials, LineState, LineTarget
from drivers.linux_nftables import LinuxNftablesDriver, NftOwnedLine
from drivers.timing import DeviceZone, untrusted
from lab.linux_nftables import TWIN
from lab.netns import INTERNET_V4, PacketLab, unavailable, venue_prefixes
from lab.topology import DeviceSpec, Lab
from tests.conftest import SHANGHAI

pytestmark = pytest.mark.lab

NIGHT = datetime(2026, 11, 25, tzinfo=SHANGHAI)
WINDOW = (NIGHT, NIGHT + timedelta(hours=8))
L42 = LineTarget(42, "eth1", (ip_network("198.18.1.0/24"), ip_network("2001:db8:1::/48")))
L43 = LineTarget(43, "eth2", (ip_network("198.18.2.0/24"),))


@pytest.fixture
def twin() -> Iterator[tuple[Lab, SimulatedClock]]:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    spec = DeviceSpec(
        "R1",
        platform="linux_nftables",
        interfaces=("eth0", "eth1", "eth2"),
        config=tuple(TWIN.base_config("100.64.0.1")),
    )
    clock = SimulatedClock(NIGHT - timedelta(minutes=2))
    with Lab([spec]) as lab:
        lab.router("R1").clock = clock.now
        yield lab, clock


def driver(lab: Lab) -> LinuxNftablesDriver:
    spec = lab.specs[0]
    credentials = Credentials(
        lab.host, spec.port, spec.username, spec.password, spec.secret, host_key=spec.host_key
    )
    return LinuxNftablesDriver("R1", credentials)


def test_the_twin_clock_is_read_and_trusted_whatever_its_zone(twin) -> None:
    lab, clock = twin
    with driver(lab) as nft:
        reading = nft.read_clock()
    assert reading.problem is None and reading.synchronised and reading.utc_bounds
    assert reading.time == clock.now() and reading.ntp_offset_ms == pytest.approx(0.25)
    assert "192.0.2.123" in reading.text  # chrony's answer kept as evidence
    # a venue in UTC+8 and a router whose clock says nothing of zones: trusted all the same
    assert untrusted(reading, clock.now(), *WINDOW, SHANGHAI) is None

    lab.router("R1").ntp_lost = True
    with driver(lab) as nft:
        lost = nft.read_clock()
    assert untrusted(lost, clock.now(), *WINDOW, SHANGHAI) == "device not NTP-synchronised"


def test_armed_rules_are_dormant_until_the_window_and_arming_again_sends_nothing(twin) -> None:
    lab, clock = twin
    with driver(lab) as nft:
        armed = nft.arm([L42, L43], *WINDOW, DeviceZone())
        assert armed.ok and [line.line_id for line in armed.lines] == [42, 43]
        again = nft.arm([L42, L43], *WINDOW, DeviceZone())
        assert again.ok and again.commands == ()  # armed exactly so: idempotent
        found = nft.read()
        line = found[42]
        assert isinstance(line, NftOwnedLine) and line.window == WINDOW and line.dormant
        assert line.state_for(L42) is LineState.OPEN and len(line.handles) == 4
        clock.set(NIGHT)
        assert nft.read()[42].state_for(L42) is LineState.CUT
        clock.set(WINDOW[1] - timedelta(seconds=1))
        assert nft.read()[43].state_for(L43) is LineState.CUT
        clock.set(WINDOW[1])  # the end is not in the window
        assert nft.read()[42].state_for(L42) is LineState.OPEN


def test_arming_another_night_replaces_the_old_rules_in_one_transaction(twin) -> None:
    lab, _clock = twin
    tomorrow = (WINDOW[0] + timedelta(days=1), WINDOW[1] + timedelta(days=1))
    with driver(lab) as nft:
        assert nft.arm([L42], *WINDOW, DeviceZone()).ok
        old = nft.read()[42]
        moved = nft.arm([L42], *tomorrow, DeviceZone())
        assert moved.ok
        deletes = [c for c in moved.commands if c.startswith("delete rule")]
        assert len(deletes) == 4 and moved.commands.index(deletes[-1]) < len(moved.commands) - 4
        line = nft.read()[42]
        assert isinstance(line, NftOwnedLine) and line.window == tomorrow
        assert isinstance(old, NftOwnedLine) and not set(old.handles) & set(line.handles)


def test_a_plain_cut_is_neither_armed_over_nor_disarmed(twin) -> None:
    lab, clock = twin
    with driver(lab) as nft:
        assert nft.apply(Batch(cuts=(L43,))).ok
        refused = nft.arm([L43], *WINDOW, DeviceZone())
        assert not refused.ok and "cut already" in (refused.lines[0].error or "")
        kept = nft.disarm([43])
        assert not kept.ok and "without a window" in (kept.lines[0].error or "")
        assert nft.read()[43].state_for(L43) is LineState.CUT  # untouched, the passes own it

        # an armed line disarms whole: no rule of it is left, the plain cut stays
        assert nft.arm([L42], *WINDOW, DeviceZone()).ok
        clock.set(NIGHT)
        gone = nft.disarm([42])
        assert gone.ok and len(gone.commands) == 4
        found = nft.read()
        assert 42 not in found and found[43].state_for(L43) is LineState.CUT


def test_a_window_edge_off_a_whole_second_is_refused_before_anything_is_sent(twin) -> None:
    lab, _clock = twin
    with driver(lab) as nft:
        result = nft.arm([L42], NIGHT + timedelta(milliseconds=500), WINDOW[1], DeviceZone())
    assert not result.ok and result.commands == ()
    assert "whole second" in (result.lines[0].error or "")
    assert "CURFEW" not in lab.router("R1").running_config()


# ---------------------------------------------------------------- the kernel's own clock


@pytest.fixture
def packet_lab() -> Iterator[PacketLab]:
    reason = unavailable(("ip", "nft", "ping"))
    if reason:
        pytest.skip(reason)
    with PacketLab() as lab:
        yield lab


def test_the_kernel_drops_inside_the_window_by_its_own_clock_and_not_before(packet_lab) -> None:
    """Two venues armed at once: venue1 for a window around the router's clock now, venue2
    for one an hour ahead. The kernel drops venue1's packets and counts them, lets venue2's
    through; the driver reads venue1 cut and venue2 dormant; disarmed, both pass again."""
    lab = packet_lab
    nft = LinuxNftablesDriver("router", Credentials(f"netns:{lab.router}", 0, "", ""))
    venue1 = LineTarget(1, lab.venue_port(1), venue_prefixes(1))
    venue2 = LineTarget(2, lab.venue_port(2), venue_prefixes(2))
    with nft:
        reading = nft.read_clock()  # the router's kernel clock, as `meta time` sees it
        assert reading.time is not None and reading.utc_bounds
        now = reading.time.replace(microsecond=0)
        assert lab.ping("venue1", INTERNET_V4.ip) and lab.ping("venue2", INTERNET_V4.ip)
        assert nft.arm(
            [venue1], now - timedelta(minutes=1), now + timedelta(hours=1), DeviceZone()
        ).ok
        ahead = (now + timedelta(hours=1), now + timedelta(hours=2))
        assert nft.arm([venue2], *ahead, DeviceZone()).ok

        blocked = lab.ping("venue1", INTERNET_V4.ip)
        through = lab.ping("venue2", INTERNET_V4.ip)
        found = nft.read()
        line1, line2 = found[1], found[2]
        assert not blocked and through
        assert line1.state_for(venue1) is LineState.CUT and not line1.dormant
        assert line2.state_for(venue2) is LineState.OPEN and line2.dormant
        assert isinstance(line1, NftOwnedLine) and line1.packets >= 1  # the kernel counted
        assert isinstance(line2, NftOwnedLine) and line2.packets == 0

        assert nft.disarm([1, 2]).ok
        assert lab.ping("venue1", INTERNET_V4.ip) and lab.ping("venue2", INTERNET_V4.ip)
        assert nft.read() == {}

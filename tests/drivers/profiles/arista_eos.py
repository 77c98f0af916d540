"""Arista EOS (napalm `eos` over eAPI) in the conformance suite."""

from __future__ import annotations

import pyeapi

from drivers.base import LineState
from lab.topology import Lab
from tests.drivers.profiles import Profile


def eapi_operator(lab: Lab, name: str, lines: tuple[str, ...]) -> None:
    """A person changing the switch over eAPI: pyeapi's `config` sends `enable`,
    `configure terminal`, the lines as typed (indentation and all) and reads the answer."""
    spec = next(s for s in lab.specs if s.name == name)
    node = pyeapi.connect(
        transport="http",
        host=lab.host,
        port=spec.port,
        username=spec.username,
        password=spec.password,
        timeout=10,
        return_node=True,
    )
    node.config(list(lines))


def _foreign_acl(interface: str) -> tuple[str, ...]:
    return (
        "ip access-list MGMT-ACCESS",
        "   permit ip 192.0.2.0/24 any",
        "   deny ip 203.0.113.0/24 any",
        "   permit ip any any",
        f"interface {interface}",
        "   ip access-group MGMT-ACCESS in",
    )


PROFILE = Profile(
    platform="arista_eos",
    no_device_timing=(
        "device timing is not built for EOS: its opted-in lines fall back to controller timing, "
        "with that reason in the change log"
    ),
    uplink="Ethernet1",
    venue_ports=("Ethernet2", "Ethernet3", "Ethernet4"),
    port_name=lambda n: f"Ethernet{n + 10}",
    cut_of_l42=(
        "   ip access-group CURFEW-L42 in",
        "   ip access-group CURFEW-L42 out",
        "   ipv6 access-group CURFEW6-L42 in",
        "   ipv6 access-group CURFEW6-L42 out",
        "ip access-list CURFEW-L42",
        "   10 deny ip 198.18.1.0/24 any",
        "   20 deny ip any 198.18.1.0/24",
        "   30 permit ip any any",
        "!",
        "ipv6 access-list CURFEW6-L42",
        "   10 deny ipv6 2001:db8:1::/48 any",
        "   20 deny ipv6 any 2001:db8:1::/48",
        "   30 permit ipv6 any any",
        "!",
    ),
    foreign_acl=_foreign_acl,
    delete_l42_acl=("no ip access-list CURFEW-L42",),
    other_config=(
        "ntp server 192.0.2.123",
        "logging host 192.0.2.50",
        "interface Ethernet2",
        "   description venue access",
        "   no switchport",
        "   ip address 198.18.1.1/24",
        "   ipv6 address 2001:db8:1::1/48",
    ),
    reject_pattern=r"^ipv6 access-group",
    rejected_command="ipv6 access-group CURFEW6-L42 in",
    invalid_marker="Invalid input",
    # A configure session is one transaction: the refused line is left out of the commit and
    # reads back OPEN, while the rest of the batch is committed.
    rejected_line_state=LineState.OPEN,
    # eAPI requests (napalm 5.2): 1 `show version` at open. Then 2 our session check, 3 the
    # running-config, 4-5 napalm's lock check and the load, 6 the diff, 7-8 napalm's pending
    # check, 9 the timed commit: the switch commits and never answers. What it had answered
    # (the session diff, "@@ ...") is the partial output; its timer reverts the commit.
    drop_points={"during-login": 1, "mid-push": 9},
    config_enter="@@ ",
    skips={
        "test_wrong_enable_secret_is_auth_failed": (
            "EOS over eAPI has no enable secret: pyeapi sends `enable` itself and the "
            "account's privilege decides"
        ),
        "test_running_config_is_never_saved": (
            "napalm's eos confirm_commit and rollback end with `write memory`: its rollback "
            "checkpoint is the startup-config it copies to flash:rollback-0, so a confirmed "
            "change is saved by design"
        ),
    },
    operator=eapi_operator,
)

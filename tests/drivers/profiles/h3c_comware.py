"""H3C Comware 7 in the conformance suite."""

from __future__ import annotations

from netmiko import ConnectHandler

from lab.topology import Lab
from tests.drivers.profiles import Profile


def _operator(lab: Lab, name: str, lines: tuple[str, ...]) -> None:
    """A person at a plain netmiko session. netmiko's hp_comware turns command verification
    off, which makes send_config_set wait out a 2 s timer; verifying each echo is faster."""
    with ConnectHandler(**lab.connection(name), fast_cli=True, global_cmd_verify=True) as session:
        session.send_config_set(list(lines))


def _foreign_acl(interface: str) -> tuple[str, ...]:
    return (
        "acl advanced name MGMT-ACCESS",
        " rule 5 permit ip source 192.0.2.0 0.0.0.255",
        " rule 10 deny ip source 203.0.113.0 0.0.0.255",
        " rule 15 permit ip",
        "quit",
        f"interface {interface}",
        " packet-filter name MGMT-ACCESS inbound",
        "quit",
    )


PROFILE = Profile(
    platform="h3c_comware",
    uplink="Ten-GigabitEthernet1/0/49",
    venue_ports=("GigabitEthernet1/0/1", "GigabitEthernet1/0/2", "GigabitEthernet1/0/3"),
    port_name=lambda n: f"GigabitEthernet2/0/{n + 1}",
    cut_of_l42=(
        " packet-filter name CURFEW-L42 inbound",
        " packet-filter name CURFEW-L42 outbound",
        " packet-filter ipv6 name CURFEW6-L42 inbound",
        " packet-filter ipv6 name CURFEW6-L42 outbound",
        "acl advanced name CURFEW-L42",
        " rule 5 deny ip source 198.18.1.0 0.0.0.255",
        " rule 10 deny ip destination 198.18.1.0 0.0.0.255",
        " rule 15 permit ip",
        "#",
        "acl ipv6 advanced name CURFEW6-L42",
        " rule 5 deny ipv6 source 2001:DB8:1::/48",
        " rule 10 deny ipv6 destination 2001:DB8:1::/48",
        " rule 15 permit ipv6",
        "#",
    ),
    foreign_acl=_foreign_acl,
    delete_l42_acl=("undo acl advanced name CURFEW-L42",),
    other_config=(
        "ntp-service unicast-server 192.0.2.123",
        "info-center loghost 192.0.2.50",
        "interface GigabitEthernet1/0/1",
        " description venue access",
        " ip address 198.18.1.1 255.255.255.0",
        " ipv6 address 2001:db8:1::1/48",
        "quit",
    ),
    reject_pattern=r"^packet-filter ipv6",
    rejected_command="packet-filter ipv6 name CURFEW6-L42 inbound",
    invalid_marker="% Unrecognized command",
    # netmiko's set-up sends one command (screen-length disable); in the push, system-view is
    # the third command and the fifth the first rule of the IPv4 ACL
    drop_points={"during-login": 1, "mid-push": 5},
    config_enter="system-view",
    skips={
        "test_wrong_enable_secret_is_auth_failed": (
            "Comware has no enable mode: a login's user role decides what it may configure "
            "(`super` exists, netmiko's hp_comware never needs it), so there is no secret to "
            "get wrong"
        ),
    },
    operator=_operator,
)

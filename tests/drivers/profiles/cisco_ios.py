"""Cisco IOS in the conformance suite."""

from __future__ import annotations

from tests.drivers.profiles import Profile


def _foreign_acl(interface: str) -> tuple[str, ...]:
    return (
        "ip access-list extended MGMT-ACCESS",
        " permit ip 192.0.2.0 0.0.0.255 any",
        " deny ip 203.0.113.0 0.0.0.255 any",
        " permit ip any any",
        f"interface {interface}",
        " ip access-group MGMT-ACCESS in",
    )


PROFILE = Profile(
    platform="cisco_ios",
    uplink="GigabitEthernet0/0",
    venue_ports=("GigabitEthernet0/1", "GigabitEthernet0/2", "GigabitEthernet0/3"),
    port_name=lambda n: f"GigabitEthernet1/{n}",
    cut_of_l42=(
        " ip access-group CURFEW-L42 in",
        " ip access-group CURFEW-L42 out",
        " ipv6 traffic-filter CURFEW6-L42 in",
        " ipv6 traffic-filter CURFEW6-L42 out",
        "ip access-list extended CURFEW-L42",
        " deny   ip 198.18.1.0 0.0.0.255 any",
        " deny   ip any 198.18.1.0 0.0.0.255",
        " permit ip any any",
        "!",
        "ipv6 access-list CURFEW6-L42",
        " deny ipv6 2001:DB8:1::/48 any",
        " deny ipv6 any 2001:DB8:1::/48",
        " permit ipv6 any any",
        "!",
    ),
    foreign_acl=_foreign_acl,
    delete_l42_acl=("no ip access-list extended CURFEW-L42",),
    other_config=(
        "ntp server 192.0.2.123",
        "logging host 192.0.2.50",
        "interface GigabitEthernet0/1",
        " description venue access",
        " ip address 198.18.1.1 255.255.255.0",
        " ipv6 address 2001:db8:1::1/48",
    ),
    reject_pattern=r"^ipv6 traffic-filter",
    rejected_command="ipv6 traffic-filter CURFEW6-L42 in",
    invalid_marker="% Invalid input",
    # netmiko's set-up and enable take three commands, the first read a fourth
    drop_points={"during-login": 3, "mid-push": 6},
    config_enter="configure terminal",
)

"""Huawei VRP in the conformance suite."""

from __future__ import annotations

from netmiko import ConnectHandler

from lab.topology import Lab
from tests.drivers.profiles import Profile

_PROMPT = r"[\]>]\s*$"
_PROMPT_OR_QUESTION = r"(?:[\]>]|\[Y/N\]:?)\s*$"


def vrp_operator(lab: Lab, name: str, lines: tuple[str, ...]) -> None:
    """A person typing system-view lines through netmiko's `huawei` driver, answering `Y` when
    VRP asks (deleting a bound ACL does). Explicit patterns: netmiko's own config session waits
    out 2 s of silence per mode check."""
    params = {**lab.connection(name), "device_type": "huawei"}
    params.pop("secret", None)  # VRP has no enable mode
    with ConnectHandler(**params, fast_cli=True) as session:
        session.send_command("system-view", expect_string=_PROMPT)
        for line in lines:
            output = session.send_command(line, expect_string=_PROMPT_OR_QUESTION)
            if "[Y/N]" in output:
                output += session.send_command("Y", expect_string=_PROMPT)
            if "Error:" in output:
                raise ValueError(f"{name} refused {line!r}: {output}")
        session.send_command("return", expect_string=_PROMPT)
        # back in the user view: spare netmiko's 2 s wait to find that out on disconnect
        session.check_config_mode = lambda *args, **kwargs: False


def _foreign_acl(interface: str) -> tuple[str, ...]:
    return (
        "acl name MGMT-ACCESS 3001",
        " rule 5 permit ip source 192.0.2.0 0.0.0.255",
        " rule 10 deny ip source 203.0.113.0 0.0.0.255",
        " quit",
        f"interface {interface}",
        " traffic-filter inbound acl name MGMT-ACCESS",
        " quit",
    )


PROFILE = Profile(
    platform="huawei_vrp",
    uplink="GigabitEthernet0/0/0",
    venue_ports=("GigabitEthernet0/0/1", "GigabitEthernet0/0/2", "GigabitEthernet0/0/3"),
    port_name=lambda n: f"GigabitEthernet1/0/{n}",
    cut_of_l42=(
        " traffic-filter inbound acl name CURFEW-L42",
        " traffic-filter outbound acl name CURFEW-L42",
        " traffic-filter inbound acl ipv6 name CURFEW6-L42",
        " traffic-filter outbound acl ipv6 name CURFEW6-L42",
        # a named ACL still takes a number, the highest free one
        "acl name CURFEW-L42 3999",
        " rule 5 deny ip source 198.18.1.0 0.0.0.255",
        " rule 10 deny ip destination 198.18.1.0 0.0.0.255",
        "#",
        "acl ipv6 name CURFEW6-L42 3999",
        " rule 5 deny ipv6 source 2001:DB8:1::/48",
        " rule 10 deny ipv6 destination 2001:DB8:1::/48",
        "#",
    ),
    foreign_acl=_foreign_acl,
    # the ACL is bound: VRP asks [Y/N], the operator says yes, the bindings stay behind
    delete_l42_acl=("undo acl name CURFEW-L42",),
    other_config=(
        "ntp-service unicast-server 192.0.2.123",
        "info-center loghost 192.0.2.50",
        "interface GigabitEthernet0/0/1",
        " description venue access",
        " ip address 198.18.1.1 255.255.255.0",
        " ipv6 enable",
        " ipv6 address 2001:db8:1::1/48",
        " quit",
    ),
    reject_pattern=r"^traffic-filter \S+ acl ipv6",
    rejected_command="traffic-filter inbound acl ipv6 name CURFEW6-L42",
    invalid_marker="Error: Unrecognized command found at '^' position.",
    # netmiko's set-up sends one command (screen-length); the driver's first read is the second
    # and `system-view` the third
    drop_points={"during-login": 1, "mid-push": 4},
    config_enter="system-view",
    skips={
        "test_wrong_enable_secret_is_auth_failed": (
            "VRP has no enable mode: the user's level comes with the login, no secret is sent"
        ),
    },
    operator=vrp_operator,
)

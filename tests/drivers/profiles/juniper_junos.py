"""Juniper Junos in the conformance suite."""

from __future__ import annotations

from netmiko import ConnectHandler

from lab.topology import Lab
from tests.drivers.profiles import Profile


def junos_operator(lab: Lab, name: str, lines: tuple[str, ...]) -> None:
    """A person changing the router through a plain netmiko session: on Junos nothing takes
    effect until it is committed."""
    with ConnectHandler(**lab.connection(name), fast_cli=True) as session:
        session.send_config_set(list(lines), exit_config_mode=False)
        session.commit()
        session.exit_config_mode()


def _foreign_acl(interface: str) -> tuple[str, ...]:
    head = "set firewall family inet filter MGMT-ACCESS"
    return (
        f"{head} term allow from source-address 192.0.2.0/24",
        f"{head} term allow then accept",
        f"{head} term block from source-address 203.0.113.0/24",
        f"{head} term block then discard",
        f"{head} term rest then accept",
        f"set interfaces {interface} unit 0 family inet filter input MGMT-ACCESS",
    )


PROFILE = Profile(
    platform="juniper_junos",
    uplink="ge-0/0/0",
    venue_ports=("ge-0/0/1", "ge-0/0/2", "ge-0/0/3"),
    port_name=lambda n: f"xe-1/0/{n}",
    cut_of_l42=(
        "set interfaces ge-0/0/1 unit 0 family inet filter input CURFEW-L42",
        "set interfaces ge-0/0/1 unit 0 family inet filter output CURFEW-L42",
        "set interfaces ge-0/0/1 unit 0 family inet6 filter input CURFEW6-L42",
        "set interfaces ge-0/0/1 unit 0 family inet6 filter output CURFEW6-L42",
        "set firewall family inet filter CURFEW-L42 term s from source-address 198.18.1.0/24",
        "set firewall family inet filter CURFEW-L42 term s then discard",
        "set firewall family inet filter CURFEW-L42 term d from destination-address 198.18.1.0/24",
        "set firewall family inet filter CURFEW-L42 term d then discard",
        "set firewall family inet filter CURFEW-L42 term rest then accept",
        "set firewall family inet6 filter CURFEW6-L42 term s from source-address 2001:db8:1::/48",
        "set firewall family inet6 filter CURFEW6-L42 term s then discard",
        "set firewall family inet6 filter CURFEW6-L42 term d from destination-address "
        "2001:db8:1::/48",
        "set firewall family inet6 filter CURFEW6-L42 term d then discard",
        "set firewall family inet6 filter CURFEW6-L42 term rest then accept",
    ),
    foreign_acl=_foreign_acl,
    # The filter cannot go while it is bound (the commit would fail): drift is a term gone.
    delete_l42_acl=("delete firewall family inet filter CURFEW-L42 term d",),
    other_config=(
        "set system ntp server 192.0.2.123",
        "set system syslog host 192.0.2.50 any any",
        'set interfaces ge-0/0/1 description "venue access"',
        "set interfaces ge-0/0/1 unit 0 family inet address 198.18.1.1/24",
        "set interfaces ge-0/0/1 unit 0 family inet6 address 2001:db8:1::1/48",
    ),
    reject_pattern=r"^set interfaces \S+ unit 0 family inet6 filter input",
    rejected_command="set interfaces ge-0/0/1 unit 0 family inet6 filter input CURFEW6-L42",
    invalid_marker="syntax error.",
    # netmiko's set-up sends three `set cli` commands; the apply then reads (three commands:
    # commit status, configuration, interfaces with groups applied), enters `configure
    # exclusive` and reads again (three): the eleventh is the first line pushed
    drop_points={"during-login": 2, "mid-push": 11},
    config_enter="configure exclusive",
    skips={
        "test_wrong_enable_secret_is_auth_failed": "Junos has no enable mode or enable secret",
        "test_running_config_is_never_saved": (
            "Junos has no running/startup split: a commit is the configuration the router boots "
            "with, and commit confirmed + confirm is the driver's only write"
        ),
    },
    operator=junos_operator,
)

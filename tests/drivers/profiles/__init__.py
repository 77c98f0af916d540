"""What the conformance suite must know of each platform: one module per platform here.

Each module defines `PROFILE`; `load_profiles()` collects them. A registered driver without a
profile fails the suite, so a new platform cannot skip conformance by omission.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from netmiko import ConnectHandler

from drivers.base import LineState
from lab.topology import Lab


def netmiko_operator(lab: Lab, name: str, lines: tuple[str, ...]) -> None:
    """A person changing a CLI device through a plain netmiko session."""
    with ConnectHandler(**lab.connection(name), fast_cli=True) as session:
        if session.check_enable_mode() is False and lab.connection(name).get("secret"):
            session.enable()
        session.send_config_set(list(lines))


@dataclass(frozen=True)
class Profile:
    """A platform's spelling of the suite's cases, and how to reach and inspect its twin."""

    platform: str
    uplink: str
    # the three venue interfaces of lines 42, 43 and 44
    venue_ports: tuple[str, str, str]
    # the n-th of 200 venue interfaces (n from 0) for the one-session scale test
    port_name: Callable[[int], str]
    # running-config lines a cut of line 42 adds, in the twin's own spelling
    cut_of_l42: tuple[str, ...]
    # config lines binding a foreign filter named MGMT-ACCESS inbound on an interface
    foreign_acl: Callable[[str], tuple[str, ...]]
    # config lines an operator would type to delete line 42's IPv4 filter by hand
    delete_l42_acl: tuple[str, ...]
    # other configuration that must survive a cut and a restore untouched
    other_config: tuple[str, ...]
    # a regex the twin's `reject` fault matches against the IPv6 binding of a cut ...
    reject_pattern: str
    # ... the command of line 42 it then refuses, and the device's error marker
    rejected_command: str
    invalid_marker: str
    # the number of commands after which the twin drops the session: while logging in,
    # and in the middle of a push (whose device output starts with `config_enter`)
    drop_points: Mapping[str, int]
    config_enter: str
    # what read-back shows of line 42 after its refused command: UNKNOWN where the commands
    # before it went through (its IPv4 half), OPEN where a change is one transaction (nftables)
    rejected_line_state: LineState = LineState.UNKNOWN
    # text marking the controller's own entries in `cut_of_l42`: each such entry appears once in
    # the running config however many lines are cut (the ACL names; a port's own line on SNMP)
    owned_marker: str = "CURFEW"
    # why the platform's driver does not offer `Staging` (bodies staged, then bound), if it
    # does not: the staging cases are skipped with this reason
    no_staging: str = ""
    # why the platform's driver does not offer `DeviceTimed` (a window enforced on the device's
    # own clock), if it does not: the device-timing cases are skipped with this reason
    no_device_timing: str = ""
    # Credentials.extra for the suite's drivers (driver options, e.g. SNMP's counter interval)
    credentials_extra: Mapping[str, str] = field(default_factory=dict)
    # test function name -> why this platform cannot run it (shown in the test output)
    skips: Mapping[str, str] = field(default_factory=dict)
    operator: Callable[[Lab, str, tuple[str, ...]], None] = netmiko_operator

    def running_config(self, lab: Lab, name: str) -> str:
        return lab.router(name).running_config()

    def saved_config(self, lab: Lab, name: str) -> str:
        return lab.router(name).startup_config


def load_profiles() -> dict[str, Profile]:
    profiles: dict[str, Profile] = {}
    for module in pkgutil.iter_modules(__path__):
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        profile: Profile = loaded.PROFILE
        profiles[profile.platform] = profile
    return profiles

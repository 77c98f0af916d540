"""Strict patterns for everything that is ever rendered into a device command.

Inventory import and every driver check identifiers here, so a value with a newline, a space
or CLI syntax in it is refused where it enters and again before any command is rendered.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Network, IPv6Network, ip_network

# Interface names as each platform prints them in its running configuration: full names only,
# so that what we render is exactly what read-back finds.
_SLOTS = r"\d{1,3}(?:/\d{1,3}){0,3}(?:\.\d{1,5})?"
INTERFACE_PATTERNS: dict[str, re.Pattern[str]] = {
    "cisco_ios": re.compile(
        r"(?:GigabitEthernet|FastEthernet|TenGigabitEthernet|TwentyFiveGigE|FortyGigabitEthernet"
        r"|HundredGigE|Ethernet|Port-channel|Vlan|Dialer|Virtual-Template)" + _SLOTS
    ),
    # The physical port as Junos configures it (`ge-0/0/1`, channelized `xe-0/0/0:1`, `ae0`);
    # a cut binds on its unit 0, so `ge-0/0/1.0` is not a name the inventory uses.
    "juniper_junos": re.compile(
        r"(?:ge|xe|et|fe|mge)-(?:0|[1-9]\d?)/(?:0|[1-9]\d?)/(?:0|[1-9]\d{0,2})(?::(?:0|[1-9]\d?))?"
        r"|ae(?:0|[1-9]\d{0,3})"
    ),
    # VRP prints physical ports as slot/card/port (GigabitEthernet0/0/1, 40GE1/0/1), logical
    # ones with a plain number (Eth-Trunk1, Vlanif10); sub-interfaces add `.N`.
    "huawei_vrp": re.compile(
        r"(?:(?:GigabitEthernet|XGigabitEthernet|Ethernet|MultiGE|25GE|40GE|100GE)"
        r"\d{1,3}/\d{1,3}/\d{1,3}|Eth-Trunk\d{1,4})(?:\.\d{1,5})?"
        r"|Vlanif\d{1,4}"
    ),
    # Comware prints full names with no space: ports are slot/subslot/port (subinterfaces
    # .N), aggregates, VLAN interfaces and loopbacks a bare number up to 4 digits.
    "h3c_comware": re.compile(
        r"(?:(?:GigabitEthernet|Ten-GigabitEthernet|TwentyFiveGigE|FortyGigE|HundredGigE"
        r"|M-GigabitEthernet)\d{1,3}(?:/\d{1,3}){1,3}|(?:Bridge-Aggregation|Route-Aggregation)"
        r"\d{1,4}|Vlan-interface\d{1,4}|LoopBack\d{1,4})(?:\.\d{1,4})?"
    ),
    # Linux (IFNAMSIZ): 1-15 of [A-Za-z0-9_.-], never "." or ".."; quoted verbatim in nft rules
    "linux_nftables": re.compile(r"(?!\.{1,2}\Z)[A-Za-z0-9_.-]{1,15}"),
    # Arista EOS: Ethernet1, Ethernet3/1/1, Ethernet1.100, Port-Channel10, Vlan10; no leading 0s
    "arista_eos": re.compile(
        r"Ethernet[1-9]\d{0,3}(?:/[1-9]\d{0,2}){0,2}(?:\.[1-9]\d{0,3})?"
        r"|Port-Channel[1-9]\d{0,5}(?:\.[1-9]\d{0,3})?|Vlan[1-9]\d{0,3}"
    ),
    # SNMP switch ports by IF-MIB ifName exactly as the switch reports it: a type word (letters,
    # inner hyphens, up to 3 leading digits: 10GE) then slots, e.g. GigabitEthernet1/0/7,
    # Gi1/0/7, ge-0/0/7, 10GE1/0/1, Port7; the driver resolves the name to an ifIndex per session
    "snmp_ifadmin": re.compile(r"\d{0,3}[A-Za-z](?:[A-Za-z-]{0,30}[A-Za-z])?-?" + _SLOTS),
}

LINE_ID_MAX = 10**9
_DEVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


class IdentifierError(ValueError):
    """A value that must never reach a device failed validation."""


def check_line_id(line_id: object) -> int:
    if not isinstance(line_id, int) or isinstance(line_id, bool) or not 0 < line_id < LINE_ID_MAX:
        raise IdentifierError(
            f"line id must be an integer in 1..{LINE_ID_MAX - 1}, got {line_id!r}"
        )
    return line_id


def check_interface(platform: str, name: object) -> str:
    pattern = INTERFACE_PATTERNS.get(platform)
    if pattern is None:
        raise IdentifierError(f"no interface pattern for platform {platform!r}")
    if not isinstance(name, str) or not pattern.fullmatch(name):
        raise IdentifierError(
            f"interface {name!r} is not a valid {platform} interface name "
            f"(full names such as GigabitEthernet0/1; no spaces or control characters)"
        )
    return name


def check_device_name(name: object) -> str:
    if not isinstance(name, str) or not _DEVICE_NAME.fullmatch(name):
        raise IdentifierError(
            f"device name {name!r} must be 1-63 letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit"
        )
    return name


# A RADIUS subscriber's User-Name as curfew accepts it: written into the RADIUS server's SQL
# tables (as a bound parameter) and sent in Disconnect-Requests, so no spaces, quotes or
# control characters; a realm after @ is allowed (user@carrier.example)
SUBSCRIBER_USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")


def check_username(name: object) -> str:
    if not isinstance(name, str) or not SUBSCRIBER_USERNAME.fullmatch(name):
        raise IdentifierError(
            f"subscriber username {name!r} must be 1-64 letters, digits, '.', '_', '@' or '-'"
        )
    return name


def parse_prefix(text: object) -> IPv4Network | IPv6Network:
    """A venue prefix in CIDR form; host bits must be zero, default routes are refused."""
    if not isinstance(text, str) or text != text.strip() or not text:
        raise IdentifierError(f"prefix {text!r} must be a CIDR string such as 192.0.2.0/24")
    try:
        prefix = ip_network(text, strict=True)
    except ValueError as exc:
        raise IdentifierError(f"prefix {text!r}: {exc}") from None
    if prefix.prefixlen == 0:
        raise IdentifierError(f"prefix {text!r} would cut every address")
    return prefix

"""A Linux router with nftables in the conformance suite: the twin is a real network namespace
whose ruleset the driver changes over SSH (`sudo -n nft`), and `nft list ruleset` is its config.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from drivers.base import LineState
from lab.netns import unavailable
from lab.topology import Lab
from tests.drivers.profiles import Profile

# Where a distribution keeps the ruleset it loads at boot; the driver never writes it.
BOOT_RULESET = Path("/etc/nftables.conf")


class _EveryCase(Mapping[str, str]):
    """A skip reason for every case: the twin cannot run on this machine at all."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __getitem__(self, name: str) -> str:
        return self.reason

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __contains__(self, name: object) -> bool:
        return True


def _console(lab: Lab, name: str, lines: tuple[str, ...]) -> None:
    """An operator at the router's console: `nft -f` with the lines, inside its namespace."""
    lab.router(name).configure(lines)


def _foreign_acl(interface: str) -> tuple[str, ...]:
    return (
        "add table inet mgmt",
        "add chain inet mgmt MGMT-ACCESS { type filter hook forward priority -10; }",
        f'add rule inet mgmt MGMT-ACCESS iifname "{interface}" ip saddr 192.0.2.0/24 accept',
        f'add rule inet mgmt MGMT-ACCESS iifname "{interface}" ip saddr 203.0.113.0/24 drop',
    )


@dataclass(frozen=True)
class NftablesProfile(Profile):
    def saved_config(self, lab: Lab, name: str) -> str:
        """The ruleset as created, and the host's boot ruleset file as it is on disk."""
        on_disk = BOOT_RULESET.read_text() if BOOT_RULESET.exists() else "(no file)"
        return f"{lab.router(name).startup_config}\n--- {BOOT_RULESET}\n{on_disk}"


_CANNOT_RUN = unavailable()
_NOT_APPLICABLE = {
    "test_wrong_enable_secret_is_auth_failed": (
        "no enable on Linux: the driver runs nft as root or through `sudo -n` (NOPASSWD), so "
        "no secret is ever sent"
    ),
    "test_foreign_acl_is_never_replaced_and_other_config_is_untouched": (
        "nftables has no single filter slot per interface: a foreign table filtering the same "
        "interface neither blocks the owned rules nor is replaced by them, so there is no "
        "Rejected case (test_linux_nftables_render pins that such a cut goes ahead and leaves "
        "the foreign table byte for byte)"
    ),
}

PROFILE = NftablesProfile(
    platform="linux_nftables",
    uplink="eth0",
    venue_ports=("eth1", "eth2", "eth3"),
    port_name=lambda n: f"eth{n + 1}",
    cut_of_l42=(
        "table inet curfew {",
        "\tchain forward {",
        "\t\ttype filter hook forward priority filter; policy accept;",
        '\t\tiifname "eth1" ip saddr 198.18.1.0/24 drop comment "CURFEW-L42"',
        '\t\toifname "eth1" ip daddr 198.18.1.0/24 drop comment "CURFEW-L42"',
        '\t\tiifname "eth1" ip6 saddr 2001:db8:1::/48 drop comment "CURFEW-L42"',
        '\t\toifname "eth1" ip6 daddr 2001:db8:1::/48 drop comment "CURFEW-L42"',
        "\t}",
        "}",
    ),
    foreign_acl=_foreign_acl,
    # the IPv4 half of line 42, as an operator would remove it after `nft -a list ruleset`
    # (the first rules of a new table get handles 2 and 3)
    delete_l42_acl=(
        "delete rule inet curfew forward handle 2",
        "delete rule inet curfew forward handle 3",
    ),
    other_config=(
        'ip link set eth1 alias "venue access"',
        "ip address add 198.18.1.1/24 dev eth1",
        "ip address add 2001:db8:1::1/48 dev eth1 nodad",
        "add table ip nat",
        "add chain ip nat postrouting { type nat hook postrouting priority 100; policy accept; }",
        'add rule ip nat postrouting oifname "eth0" masquerade',
        "add table inet filter",
        "add chain inet filter forward { type filter hook forward priority 0; policy accept; }",
        "add rule inet filter forward ct state established,related accept",
        'add rule inet filter forward iifname "eth1" ip saddr 198.18.1.0/24 accept',
    ),
    reject_pattern=r'^add rule inet curfew forward oifname "eth1" ip6 daddr',
    rejected_command=(
        'add rule inet curfew forward oifname "eth1" ip6 daddr 2001:db8:1::/48 drop '
        'comment "CURFEW-L42"'
    ),
    invalid_marker="Error: Could not process rule",
    # netmiko's `linux` log-in sends only newlines: the first command is the driver's read;
    # in a push, 2 is `sudo -n nft -f - <<'END'` and 3, 4 the first lines of the script
    drop_points={"during-login": 1, "mid-push": 4},
    config_enter="sudo -n nft -f - <<'CURFEW_NFT_END'",
    # nft loads a script as one transaction: a refused rule leaves the line as it was
    rejected_line_state=LineState.OPEN,
    no_staging=(
        "a rule is body and binding at once (it filters the moment it is loaded), and a batch is "
        "already one atomic nft transaction: nothing can be staged without effect"
    ),
    skips=_EveryCase(_CANNOT_RUN) if _CANNOT_RUN else _NOT_APPLICABLE,
    operator=_console,
)

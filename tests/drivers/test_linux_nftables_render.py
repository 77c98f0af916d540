"""The linux_nftables driver without a router: reading `nft -j`, rendering scripts, attributing
nft's errors, and (where root allows it) the cases the conformance suite cannot express."""

from __future__ import annotations

import json
from ipaddress import IPv4Interface, IPv6Interface, ip_network
from typing import Any

import pytest

from drivers.base import (
    Action,
    AuthFailed,
    Batch,
    Credentials,
    InvalidIdentifier,
    LineState,
    LineTarget,
    OwnedLine,
    Rejected,
    Unreachable,
)
from drivers.linux_nftables import (
    LinuxNftablesDriver,
    find_errors,
    namespace_of,
    owner_of,
    parse_facts,
    parse_table,
)


def line(line_id: int, interface: str, *prefixes: str) -> LineTarget:
    return LineTarget(line_id, interface, tuple(ip_network(p) for p in prefixes))


L42 = line(42, "eth1", "198.18.1.0/24", "2001:db8:1::/48")
L43 = line(43, "eth2", "198.18.2.0/24")
L44 = line(44, "eth3", "2001:db8:4::7/128")

# `nft -j list table inet curfew` after cutting lines 42 and 44 (nftables 1.0.6, verbatim)
REAL_ANSWER = (
    '{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", '
    '"json_schema_version": 1}}, {"table": {"family": "inet", "name": "curfew", "handle": 1}}, '
    '{"chain": {"family": "inet", "table": "curfew", "name": "forward", "handle": 1, "type": '
    '"filter", "hook": "forward", "prio": 0, "policy": "accept"}}, {"rule": {"family": "inet", '
    '"table": "curfew", "chain": "forward", "handle": 2, "comment": "CURFEW-L42", "expr": '
    '[{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth1"}}, {"match": '
    '{"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": '
    '{"addr": "198.18.1.0", "len": 24}}}}, {"drop": null}]}}, {"rule": {"family": "inet", '
    '"table": "curfew", "chain": "forward", "handle": 3, "comment": "CURFEW-L42", "expr": '
    '[{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "eth1"}}, {"match": '
    '{"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": '
    '{"addr": "198.18.1.0", "len": 24}}}}, {"drop": null}]}}, {"rule": {"family": "inet", '
    '"table": "curfew", "chain": "forward", "handle": 4, "comment": "CURFEW-L42", "expr": '
    '[{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth1"}}, {"match": '
    '{"op": "==", "left": {"payload": {"protocol": "ip6", "field": "saddr"}}, "right": '
    '{"prefix": {"addr": "2001:db8:1::", "len": 48}}}}, {"drop": null}]}}, {"rule": {"family": '
    '"inet", "table": "curfew", "chain": "forward", "handle": 5, "comment": "CURFEW-L42", '
    '"expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "eth1"}}, '
    '{"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "daddr"}}, '
    '"right": {"prefix": {"addr": "2001:db8:1::", "len": 48}}}}, {"drop": null}]}}, {"rule": '
    '{"family": "inet", "table": "curfew", "chain": "forward", "handle": 6, "comment": '
    '"CURFEW-L44", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, '
    '"right": "eth3"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip6", '
    '"field": "saddr"}}, "right": "2001:db8:4::7"}}, {"drop": null}]}}, {"rule": {"family": '
    '"inet", "table": "curfew", "chain": "forward", "handle": 7, "comment": "CURFEW-L44", '
    '"expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "eth3"}}, '
    '{"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "daddr"}}, '
    '"right": "2001:db8:4::7"}}, {"drop": null}]}}]}'
)


def rule(handle: int, comment: str | None, meta: str, field: str, prefix: str) -> dict[str, Any]:
    network = ip_network(prefix)
    right: object = (
        str(network.network_address)
        if network.prefixlen == network.max_prefixlen
        else {"prefix": {"addr": str(network.network_address), "len": network.prefixlen}}
    )
    body: dict[str, Any] = {
        "family": "inet",
        "table": "curfew",
        "chain": "forward",
        "handle": handle,
        "expr": [
            {"match": {"op": "==", "left": {"meta": {"key": meta}}, "right": "eth1"}},
            {
                "match": {
                    "op": "==",
                    "left": {
                        "payload": {"protocol": f"ip{'6' * (network.version == 6)}", "field": field}
                    },  # fmt: skip
                    "right": right,
                }
            },
            {"drop": None},
        ],
    }
    if comment is not None:
        body["comment"] = comment
    return {"rule": body}


def table(*items: dict[str, Any], policy: str = "accept") -> dict[str, Any]:
    chain = {"family": "inet", "table": "curfew", "name": "forward", "handle": 1,
             "type": "filter", "hook": "forward", "prio": 0, "policy": policy}  # fmt: skip
    head = [{"table": {"family": "inet", "name": "curfew", "handle": 1}}, {"chain": chain}]
    return {"nftables": [{"metainfo": {"version": "1.0.6"}}, *head, *items]}


def l42_rules(comment: str = "CURFEW-L42", first: int = 2) -> list[dict[str, Any]]:
    return [
        rule(first, comment, "iifname", "saddr", "198.18.1.0/24"),
        rule(first + 1, comment, "oifname", "daddr", "198.18.1.0/24"),
        rule(first + 2, comment, "iifname", "saddr", "2001:db8:1::/48"),
        rule(first + 3, comment, "oifname", "daddr", "2001:db8:1::/48"),
    ]


def render(batch: Batch, owned: dict[int, OwnedLine] | None = None) -> list[str]:
    driver = LinuxNftablesDriver("R1", Credentials("netns:r1", 0, "", ""))
    return driver.render(batch, owned if owned is not None else parse_table({"nftables": []}))


# ------------------------------------------------------------------------------ read


def test_real_nft_answer_reads_as_two_complete_lines_with_their_handles() -> None:
    owned = parse_table(json.loads(REAL_ANSWER))

    assert set(owned) == {42, 44}
    assert owned[42].state_for(L42) is LineState.CUT
    assert owned[44].state_for(L44) is LineState.CUT
    assert owned[44].prefixes == {ip_network("2001:db8:4::7/128")}
    assert owned[42].handles == (2, 3, 4, 5)  # type: ignore[attr-defined]
    assert owned.exists and owned.chain_ok and not owned.foreign


def test_a_missing_rule_makes_the_line_unknown_not_cut() -> None:
    owned = parse_table(table(*l42_rules()[:3]))
    assert owned[42].state_for(L42) is LineState.UNKNOWN


def test_a_rule_that_does_not_drop_is_not_a_cut() -> None:
    accepting = l42_rules()
    accepting[0]["rule"]["expr"][2] = {"accept": None}
    assert parse_table(table(*accepting))[42].state_for(L42) is LineState.UNKNOWN


def test_a_chain_whose_policy_was_changed_makes_every_line_unknown() -> None:
    assert parse_table(table(*l42_rules(), policy="drop"))[42].state_for(L42) is LineState.UNKNOWN


def test_rules_of_other_owners_are_not_lines_and_keep_the_table() -> None:
    owned = parse_table(
        table(*l42_rules("CURFEW-L042"), rule(9, None, "iifname", "saddr", "10.0.0.0/8"))
    )
    assert owned == {} and owned.foreign
    assert [owner_of(c) for c in ("CURFEW-L42", "CURFEW-L0", "CURFEW-L042", "x", None)] == [
        42, None, None, None, None
    ]  # fmt: skip


# ------------------------------------------------------------------------------ render


def test_cut_of_line_42_is_the_vendors_rules_in_one_script() -> None:
    add, tag = "add rule inet curfew forward", 'drop comment "CURFEW-L42"'
    assert render(Batch(cuts=(L42,))) == [
        "add table inet curfew",
        "add chain inet curfew forward { type filter hook forward priority 0; policy accept; }",
        f'{add} iifname "eth1" ip saddr 198.18.1.0/24 {tag}',
        f'{add} oifname "eth1" ip daddr 198.18.1.0/24 {tag}',
        f'{add} iifname "eth1" ip6 saddr 2001:db8:1::/48 {tag}',
        f'{add} oifname "eth1" ip6 daddr 2001:db8:1::/48 {tag}',
    ]


def test_restore_of_the_last_line_deletes_its_rules_then_the_empty_table() -> None:
    owned = parse_table(table(*l42_rules()))
    assert render(Batch(restores=(L42,)), owned) == [
        "delete rule inet curfew forward handle 2",
        "delete rule inet curfew forward handle 3",
        "delete rule inet curfew forward handle 4",
        "delete rule inet curfew forward handle 5",
        "delete table inet curfew",
    ]


def test_restore_keeps_the_table_while_another_line_or_a_foreign_rule_is_in_it() -> None:
    others = parse_table(json.loads(REAL_ANSWER))
    foreign = parse_table(table(*l42_rules(), rule(9, None, "iifname", "saddr", "10.0.0.0/8")))

    assert "delete table inet curfew" not in render(Batch(restores=(L42,)), others)
    assert render(Batch(restores=(L42,)), foreign) == [
        f"delete rule inet curfew forward handle {h}" for h in (2, 3, 4, 5)
    ]


def test_a_cut_line_is_not_rendered_again_and_a_drifted_one_is_replaced_whole() -> None:
    complete = parse_table(table(*l42_rules()))
    drifted = parse_table(table(*l42_rules()[1:]))

    assert render(Batch(cuts=(L42,)), complete) == []
    script = render(Batch(cuts=(L42,)), drifted)
    assert script[2:5] == [f"delete rule inet curfew forward handle {h}" for h in (3, 4, 5)]
    assert len([c for c in script if c.startswith("add rule")]) == 4


def test_a_line_moved_to_another_interface_is_rewritten_there() -> None:
    moved = line(42, "eth9", "198.18.1.0/24", "2001:db8:1::/48")
    script = render(Batch(cuts=(moved,)), parse_table(table(*l42_rules())))
    assert sum(c.startswith("delete rule") for c in script) == 4
    assert all('"eth9"' in c for c in script if c.startswith("add rule"))


def test_restore_of_a_line_never_cut_renders_nothing() -> None:
    assert render(Batch(restores=(L43,))) == []


@pytest.mark.parametrize(
    "interface",
    ['eth1" drop; flush ruleset; "', "eth 1", "a" * 16, "..", "eth1\n", ""],
)
def test_an_unsafe_interface_refuses_the_batch_before_anything_is_rendered(interface: str) -> None:
    bad = LineTarget(45, interface, (ip_network("198.18.5.0/24"),))
    with pytest.raises(InvalidIdentifier):
        render(Batch(cuts=(bad, L43)))


# ------------------------------------------------------------------------------ errors


def test_nft_errors_are_attributed_to_their_script_line() -> None:
    script = ["add table inet curfew", "add rule a", "add rule b"]
    output = (
        "/dev/stdin:3:1-10: Error: Could not process rule: Invalid argument\n"
        "add rule b\n^^^^^^^^^^\n"
        "netlink: Error: cache initialization failed: Operation not permitted\n"
    )
    assert find_errors(script, output) == [
        (2, "/dev/stdin:3:1-10: Error: Could not process rule: Invalid argument"),
        (None, "Error: cache initialization failed: Operation not permitted"),
    ]


class ScriptedNft:
    """A stand-in transport: answers each `nft -f -` with the next scripted output."""

    def __init__(self, loads: list[str], tables: list[dict[str, Any]]) -> None:
        self.loads = loads
        self.tables = tables
        self.scripts: list[str] = []

    def run(self, args: list[str], script: str | None = None) -> str:
        if script is not None:
            self.scripts.append(script)
            return self.loads.pop(0)
        return json.dumps(self.tables.pop(0))

    def close(self) -> None:
        pass


def scripted(loads: list[str], tables: list[dict[str, Any]]) -> tuple[Any, ScriptedNft]:
    driver = LinuxNftablesDriver("R1", Credentials("netns:r1", 0, "", ""))
    transport = ScriptedNft(loads, tables)
    driver._transport = transport  # type: ignore[assignment]
    return driver, transport


def test_a_rejected_line_is_left_out_and_the_rest_loaded_again() -> None:
    empty = {"nftables": []}
    refusal = "/dev/stdin:4:1-9: Error: Could not process rule: Invalid argument\n"
    cut43 = table(rule(2, "CURFEW-L43", "iifname", "saddr", "198.18.2.0/24"))
    cut43["nftables"].append(rule(3, "CURFEW-L43", "oifname", "daddr", "198.18.2.0/24"))
    for item in cut43["nftables"][3:]:
        item["rule"]["expr"][0]["match"]["right"] = "eth2"
    driver, nft = scripted([refusal, ""], [empty, empty, cut43])

    result = driver.apply(Batch(cuts=(L42, L43)))

    assert len(nft.scripts) == 2 and "CURFEW-L42" not in nft.scripts[1]
    by_line = {o.line_id: o for o in result.outcomes}
    assert by_line[42].state_after is LineState.OPEN and not by_line[42].verified
    assert by_line[42].error is not None and "Invalid argument" in by_line[42].error
    assert by_line[43].verified and by_line[43].state_after is LineState.CUT
    assert isinstance(result.error, Rejected) and not result.ok


def test_an_error_naming_no_line_refuses_the_whole_transaction_once() -> None:
    empty = {"nftables": []}
    driver, nft = scripted(["Error: Could not process rule: No buffer space available\n"],
                           [empty, empty])  # fmt: skip

    result = driver.apply(Batch(cuts=(L42, L43)))

    assert len(nft.scripts) == 1
    assert isinstance(result.error, Rejected)
    assert all(o.error and o.error.startswith("Rejected: ") for o in result.outcomes)
    assert all(o.state_after is LineState.OPEN for o in result.outcomes)


# ------------------------------------------------------------------------------ transports


@pytest.mark.parametrize("host", ["netns:../etc", "netns:", "netns:a b", "netns:-x", "netns:x/y"])
def test_a_bad_namespace_name_is_refused(host: str) -> None:
    with pytest.raises(InvalidIdentifier):
        namespace_of(host)


def test_hosts_pick_the_transport() -> None:
    assert namespace_of("netns:curfew-r1") == "curfew-r1"
    assert namespace_of("192.0.2.1") is None


def test_a_missing_namespace_is_unreachable_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    def answer(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        text = 'Cannot open network namespace "gone": No such file or directory\n'
        return subprocess.CompletedProcess(argv, 1, "", text)

    monkeypatch.setattr(subprocess, "run", answer)
    result = LinuxNftablesDriver("R1", Credentials("netns:gone", 0, "", "")).apply(
        Batch(cuts=(L42,))
    )
    assert isinstance(result.error, Unreachable) and result.error.retryable


def test_a_login_that_may_not_run_nft_is_auth_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    def answer(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        text = "netlink: Error: cache initialization failed: Operation not permitted\n"
        return subprocess.CompletedProcess(argv, 1, "", text)

    monkeypatch.setattr(subprocess, "run", answer)
    result = LinuxNftablesDriver("R1", Credentials("netns:r1", 0, "", "")).apply(Batch(cuts=(L42,)))
    assert isinstance(result.error, AuthFailed) and not result.error.retryable
    assert all(o.state_after is LineState.UNKNOWN for o in result.outcomes)


# ------------------------------------------------------------------------------ facts


def test_facts_come_from_ip_json() -> None:
    addresses = [
        {"ifname": "lo", "flags": ["LOOPBACK"], "addr_info": [
            {"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host"}]},
        {"ifname": "eth1", "flags": ["UP"], "addr_info": [
            {"family": "inet", "local": "198.18.1.1", "prefixlen": 24, "scope": "global"},
            {"family": "inet6", "local": "2001:db8:1::1", "prefixlen": 48, "scope": "global"},
            {"family": "inet6", "local": "fe80::1", "prefixlen": 64, "scope": "link"}]},
    ]  # fmt: skip
    routes = [
        {"dst": "198.18.1.0/24", "dev": "eth1", "protocol": "kernel", "scope": "link"},
        {"dst": "198.18.9.0/24", "dev": "eth1", "scope": "link"},
        {"dst": "default", "gateway": "100.64.0.2", "dev": "eth0"},
    ]
    facts = parse_facts(addresses, routes)
    assert facts.interfaces == {
        "eth1": (IPv4Interface("198.18.1.1/24"), IPv6Interface("2001:db8:1::1/48"))
    }
    assert facts.routes == {ip_network("198.18.9.0/24"): "eth1"}
    assert facts.routed_via(ip_network("198.18.9.0/24")) == {"eth1"}


# ------------------------------------------------------------------------------ on a real twin


@pytest.mark.lab
def test_a_foreign_table_on_the_same_interface_neither_blocks_nor_is_touched() -> None:
    from lab.linux_nftables import NftRouter
    from lab.netns import unavailable

    reason = unavailable()
    if reason:
        pytest.skip(reason)
    foreign = (
        "add table inet mgmt",
        "add chain inet mgmt MGMT-ACCESS { type filter hook forward priority -10; }",
        'add rule inet mgmt MGMT-ACCESS iifname "eth1" ip saddr 203.0.113.0/24 drop',
        'add rule inet mgmt MGMT-ACCESS iifname "eth1" accept',
    )
    with NftRouter("R1", "root", ("eth0", "eth1", "eth2"), foreign) as router:
        before = router.nft(["list", "table", "inet", "mgmt"]).stdout
        driver = LinuxNftablesDriver("R1", Credentials(f"netns:{router.namespace}", 0, "", ""))

        cut = driver.apply(Batch(cuts=(L42,)))
        during = router.nft(["list", "table", "inet", "mgmt"]).stdout
        restored = driver.apply(Batch(restores=(L42,)))

        assert cut.ok and {o.state_after for o in cut.outcomes} == {LineState.CUT}
        assert restored.ok
        assert during == before == router.nft(["list", "table", "inet", "mgmt"]).stdout
        assert router.running_config() == router.startup_config
        assert cut.outcomes[0].action is Action.CUT

"""Device timing on Linux nftables, the pure parts: the clock's answers, the armed rules as
rendered, and the armed rules as `nft -j` lists them (an answer of nft 1.0.6 run in TZ=UTC)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network

import pytest

from drivers.base import LineState, LineTarget
from drivers.linux_nftables import (
    NftOwnedLine,
    parse_chrony_tracking,
    parse_date,
    parse_table,
    parse_timed_rule,
    read_linux_clock,
    render_armed,
)
from drivers.timing import untrusted
from tests.conftest import SHANGHAI

NIGHT = datetime(2026, 11, 25, tzinfo=SHANGHAI)
WINDOW = (NIGHT, NIGHT + timedelta(hours=8))
L42 = LineTarget(42, "eth1", (ip_network("198.18.1.0/24"),))
SYNCED = (
    "C000027B,192.0.2.123,2,1795535848.000000000,0.000250000,0.000250000,0.000250000,-1.234,"
    "0.001,0.020,0.001000000,0.000500000,64.2,Normal\n"
)
UNSYNCED = (
    "00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,"
    "1.000000000,1.000000000,0.0,Not synchronised\n"
)


def test_the_date_answer_is_an_instant_in_utc() -> None:
    assert parse_date("1795535999.982113047\n") == datetime(2026, 11, 24, 15, 59, 59, 982113, UTC)
    assert parse_date("date -u +%s.%N\n1795536000\n") == NIGHT
    with pytest.raises(ValueError, match="no time"):
        parse_date("-bash: date: command not found\n")


def test_chrony_says_whether_the_clock_is_synchronised_and_by_how_much() -> None:
    assert parse_chrony_tracking(SYNCED) == (True, pytest.approx(0.25), None)
    assert parse_chrony_tracking(UNSYNCED)[:2] == (False, 0.0)
    local = SYNCED.replace("C000027B,192.0.2.123", "7F7F0101,", 1)
    assert parse_chrony_tracking(local)[0] is False  # its own local clock is no reference
    missing = parse_chrony_tracking("-bash: chronyc: command not found\n")
    assert missing[0] is False and missing[2] == (
        "NTP state not read: -bash: chronyc: command not found"
    )


def test_a_linux_clock_is_trusted_on_time_and_synchronisation_alone() -> None:
    reading = read_linux_clock("1795535880.000000000\n", SYNCED)  # 23:58 in Shanghai
    assert reading.utc_bounds and reading.time == NIGHT - timedelta(minutes=2)
    assert untrusted(reading, NIGHT - timedelta(minutes=2), *WINDOW, SHANGHAI) is None
    off = untrusted(reading, NIGHT - timedelta(minutes=2, seconds=5), *WINDOW, SHANGHAI)
    assert off == "device clock 5.0 s off (limit 1 s)"
    unsynced = read_linux_clock("1795535880\n", UNSYNCED)
    assert untrusted(unsynced, NIGHT - timedelta(minutes=2), *WINDOW, SHANGHAI) == (
        "device not NTP-synchronised"
    )
    no_chrony = read_linux_clock("1795535880\n", "bash: chronyc: command not found")
    reason = untrusted(no_chrony, NIGHT - timedelta(minutes=2), *WINDOW, SHANGHAI)
    assert reason == "NTP state not read: bash: chronyc: command not found"
    unread = read_linux_clock("", SYNCED)
    assert untrusted(unread, NIGHT, *WINDOW, SHANGHAI).startswith("device clock: no time")


def test_armed_rules_carry_the_window_as_seconds_since_the_epoch() -> None:
    assert render_armed(L42, WINDOW) == [
        'add rule inet curfew forward iifname "eth1" ip saddr 198.18.1.0/24 meta time >= '
        '1795536000 meta time < 1795564800 counter drop comment "CURFEW-L42"',
        'add rule inet curfew forward oifname "eth1" ip daddr 198.18.1.0/24 meta time >= '
        '1795536000 meta time < 1795564800 counter drop comment "CURFEW-L42"',
    ]
    with pytest.raises(ValueError, match="whole second"):
        render_armed(L42, (NIGHT + timedelta(microseconds=1), WINDOW[1]))
    with pytest.raises(ValueError, match="before its end"):
        render_armed(L42, (WINDOW[1], WINDOW[0]))


def _rule(handle: int, direction: str, start: str, end: str, packets: int = 0) -> dict:
    meta, field = ("iifname", "saddr") if direction == "in" else ("oifname", "daddr")
    return {
        "rule": {
            "family": "inet", "table": "curfew", "chain": "forward", "handle": handle,
            "comment": "CURFEW-L42",
            "expr": [
                {"match": {"op": "==", "left": {"meta": {"key": meta}}, "right": "eth1"}},
                {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": field}},
                           "right": {"prefix": {"addr": "198.18.1.0", "len": 24}}}},
                {"match": {"op": ">=", "left": {"meta": {"key": "time"}}, "right": start}},
                {"match": {"op": "<", "left": {"meta": {"key": "time"}}, "right": end}},
                {"counter": {"packets": packets, "bytes": 84 * packets}},
                {"drop": None},
            ],
        }
    }  # fmt: skip


def table(*rules: dict) -> dict:
    head = [
        {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
        {"table": {"family": "inet", "name": "curfew", "handle": 1}},
        {"chain": {"family": "inet", "table": "curfew", "name": "forward", "handle": 1,
                   "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}},
    ]  # fmt: skip
    return json.loads(json.dumps({"nftables": [*head, *rules]}))


TONIGHT = ("2026-11-24 16:00:00", "2026-11-25 00:00:00")


def test_armed_rules_read_dormant_before_the_window_cut_in_it_and_open_at_its_end() -> None:
    armed = table(_rule(2, "in", *TONIGHT, packets=3), _rule(3, "out", *TONIGHT))
    before = parse_table(armed, NIGHT - timedelta(seconds=1))[42]
    assert isinstance(before, NftOwnedLine) and before.window == WINDOW
    assert before.dormant and before.state_for(L42) is LineState.OPEN
    assert before.armed_for(L42, WINDOW) and (before.packets, before.octets) == (3, 252)
    assert parse_table(armed, NIGHT)[42].state_for(L42) is LineState.CUT
    assert parse_table(armed, WINDOW[1])[42].state_for(L42) is LineState.OPEN
    # without the device's clock nobody knows: neither cut nor open
    assert parse_table(armed)[42].state_for(L42) is LineState.UNKNOWN


def test_rules_of_one_line_on_different_windows_or_half_timed_are_not_a_cut() -> None:
    other = ("2026-11-25 16:00:00", "2026-11-26 00:00:00")
    split = table(_rule(2, "in", *TONIGHT), _rule(3, "out", *other))
    assert parse_table(split, NIGHT)[42].state_for(L42) is LineState.UNKNOWN
    half = table(_rule(2, "in", *TONIGHT))
    assert parse_table(half, NIGHT)[42].state_for(L42) is LineState.UNKNOWN


def test_a_time_match_in_any_other_shape_is_not_ours() -> None:
    expr = _rule(2, "in", *TONIGHT)["rule"]["expr"]
    assert parse_timed_rule(expr) is not None
    swapped = [expr[0], expr[1], expr[3], expr[2], expr[4], expr[5]]
    assert parse_timed_rule(swapped) is None  # `<` first: not the rule this driver writes
    backwards = [*expr[:2], expr[2] | {}, expr[3], expr[5]]
    backwards[2] = {"match": {**expr[2]["match"], "right": TONIGHT[1]}}
    backwards[3] = {"match": {**expr[3]["match"], "right": TONIGHT[0]}}
    assert parse_timed_rule(backwards) is None  # an empty window
    as_seconds = [*expr[:2], *expr[2:4], expr[5]]
    as_seconds[2] = {"match": {**expr[2]["match"], "right": 1795536000}}
    as_seconds[3] = {"match": {**expr[3]["match"], "right": 1795564800}}
    timed = parse_timed_rule(as_seconds)
    assert timed is not None and timed.window == WINDOW and timed.packets == 0

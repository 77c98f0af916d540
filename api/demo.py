"""`curfew demo`: one night in a small city, on lab routers and a simulated clock.

A mixed-vendor city: one router each of Cisco IOS, Huawei VRP, H3C Comware, Juniper Junos and
Arista EOS (NAPALM), fifteen venues: curfew orders, disconnect orders, one curfew order revoked
at 02:00 and one that starts at 03:00. Where Debian's FreeRADIUS is installed, the city also
has two BNGs with two subscribers each, dialled in through a real FreeRADIUS: one under a
curfew order, one under a disconnect order, the other two left alone; their re-dials are tried
at 01:00 and after 08:00. The night runs from 23:59 to 08:01 Shanghai time through the real
reconciler, drivers, SSH and RADIUS; afterwards every expected cut and restore is checked in
the change log and every device is read back. Exit status 0 only if all of it holds.
"""

from __future__ import annotations

import tempfile
import time as wallclock
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from api.cli.common import table
from controller import audit
from controller.clock import SimulatedClock
from controller.credentials import Vault, generate_key, load_key
from controller.inventory import import_document
from controller.orders import OrderCreate, issue_order, revoke_order
from controller.reconciler import Reconciler, connect_driver
from controller.scheduler import simulate
from controller.store import ChangeFilter, Store
from drivers.base import LineState, observed_state
from lab.bng import Session
from lab.freeradius import unavailable_reason
from lab.topology import Lab, Subscribers, city, subscriber_city

SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHT = datetime(2026, 11, 25, tzinfo=SHANGHAI)  # the midnight the demo night turns on
# one router of each access platform a carrier runs, each with three venue lines
DEMO_PLATFORMS = ("cisco_ios", "huawei_vrp", "h3c_comware", "juniper_junos", "arista_eos")
# the subscribers' orders (venues of subscriber_city(2, 2)); BNG1-2 and BNG2-1 have none
SUBSCRIBER_CURFEW, SUBSCRIBER_DISCONNECT = "Cafe BNG1-1", "Cafe BNG2-2"


@dataclass(frozen=True)
class Expectation:
    venue: str
    action: str  # cut | restore
    at: datetime


def at_hour(hour: float) -> datetime:
    return NIGHT + timedelta(hours=hour)


def run_demo(tick_seconds: int = 900, echo: Callable[[str], None] = print) -> int:
    started = wallclock.monotonic()
    specs, inventory = city(
        devices=len(DEMO_PLATFORMS), lines_per_device=3, platforms=DEMO_PLATFORMS
    )
    router_venues = [v["name"] for v in inventory["venues"]]
    clock = SimulatedClock(at_hour(-2))
    left_out = unavailable_reason()
    subscribers = subscriber_city(2, 2) if left_out is None else None
    if left_out:
        echo(f"subscribers left out of the demo city: {left_out}")
    dial_problems: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="curfew-demo-") as tmp,
        Lab(specs, subscribers=subscribers, clock=clock.now) as lab,
    ):
        # the lab's inventory carries inline passwords: kept encrypted with the demo's own key
        generate_key(Path(tmp) / "secrets.key")
        vault = Vault(key=load_key(Path(tmp) / "secrets.key"))
        store = Store.open(f"sqlite:///{Path(tmp) / 'demo.db'}", clock=clock, vault=vault)
        public_key = _sign_checkpoints(store, clock, Path(tmp))
        try:
            import_document(store, lab.inventory(inventory), "demo city")
            expectations, events = _orders(store, router_venues, subscribers is not None)
            if subscribers:
                events += _dial_checks(lab, subscribers, dial_problems)
            bngs = (
                f"{len(subscribers.bngs)} BNGs with {len(subscribers.lines)} subscribers "
                "through FreeRADIUS, "
                if subscribers
                else ""
            )
            echo(
                f"demo city: {len(specs)} routers, {bngs}{len(store.venues())} venues, "
                f"{len(store.orders())} orders; night of {NIGHT:%Y-%m-%d} in Asia/Shanghai"
            )
            reconciler = Reconciler(store, workers=8, device_timeout=10)
            simulate(
                reconciler,
                clock,
                start=at_hour(-1 / 60),
                end=at_hour(8 + 1 / 60),
                tick=timedelta(seconds=tick_seconds),
                events=events,
            )
            echo(_night_table(store))
            problems = _check(store, expectations)
            if subscribers:
                _redial(lab, subscribers, SUBSCRIBER_CURFEW, True, "08:01", dial_problems)
                _redial(lab, subscribers, SUBSCRIBER_DISCONNECT, False, "08:01", dial_problems)
                problems += dial_problems
                if not dial_problems:
                    echo(
                        "\nsubscribers: at 01:00 the ordered ones had no session and their "
                        "re-dial was rejected, the others stayed online; at 08:01 the curfew's "
                        "re-dial was accepted, the disconnect's still rejected"
                    )
            problems += _verify_log(store, public_key, Path(tmp), echo)
        finally:
            store.close()
    elapsed = wallclock.monotonic() - started
    if problems:
        echo(f"\nFAILED: {len(problems)} problem(s):")
        for problem in problems:
            echo(f"  - {problem}")
        return 1
    echo(
        f"\nall {len(expectations)} expected cuts and restores happened and verified; "
        f"routers read back as planned ({elapsed:.1f} s wall)"
    )
    return 0


def _sign_checkpoints(store: Store, clock: SimulatedClock, tmp: Path) -> str:
    """The demo signs its log as `serve` must: its own key, copies of every checkpoint kept
    outside the database (both in its temporary directory); returns the public key."""
    public = audit.generate_key(tmp / "checkpoint-signing.pem")
    store.checkpointer = audit.Checkpointer(
        audit.load_key(tmp / "checkpoint-signing.pem"), clock, directory=tmp / "checkpoints"
    )
    return public


def _verify_log(store: Store, public: str, tmp: Path, echo: Callable[[str], None]) -> list[str]:
    """Verify the night's log as an auditor would: against the key and the outside copies."""
    report = audit.verify_store(
        store.engine, audit.public_from_hex(public), audit.read_checkpoint_dir(tmp / "checkpoints")
    )
    if not report.proven:
        return [f"the change log does not verify: {p}" for p in report.problems] + [
            f"the change log is not proven: {limit}" for limit in report.limits
        ]
    echo(
        f"\nchange log: {report.records} records verify against {report.checkpoints} signed "
        f"checkpoints ({report.outside_checkpoints} copies kept outside the database), "
        f"key {public[:16]}…"
    )
    return []


def _orders(
    store: Store, venues: list[str], with_subscribers: bool
) -> tuple[list[Expectation], list]:
    # three venues per router, in router order: spread the orders over every router
    per_router = [venues[i : i + 3] for i in range(0, len(venues), 3)]
    curfews = [router[0] for router in per_router]
    disconnects = [per_router[0][1], per_router[-2][1]]
    revoked_venue, late_venue = per_router[-1][1], per_router[len(per_router) // 2][1]
    expectations: list[Expectation] = []

    def order(venue: str, kind: str, start: datetime, reason: str, basis: str) -> int:
        request = OrderCreate(
            venue=venue, kind=kind, reason=reason, legal_basis=basis, effective_from=start,
            issued_by="demo bureau official",
        )  # fmt: skip
        created = issue_order(store, request, actor="bureau:demo")
        assert created.id is not None
        return created.id

    week_ago = at_hour(-24 * 7)
    for index, venue in enumerate(curfews):
        order(venue, "curfew", week_ago, "after_hours", f"临文执发〔2026〕{index + 1}号")
        expectations += [
            Expectation(venue, "cut", at_hour(0)),
            Expectation(venue, "restore", at_hour(8)),
        ]
    for index, venue in enumerate(disconnects):
        order(venue, "disconnect", week_ago, "unlicensed", f"临文执发〔2026〕{index + 11}号")
        expectations.append(Expectation(venue, "cut", at_hour(-1 / 60)))
    revoked = order(revoked_venue, "curfew", week_ago, "after_hours", "临文执发〔2026〕21号")
    expectations += [
        Expectation(revoked_venue, "cut", at_hour(0)),
        Expectation(revoked_venue, "restore", at_hour(2)),
    ]
    order(late_venue, "curfew", at_hour(3), "minors_admitted", "临文执发〔2026〕22号")
    expectations += [
        Expectation(late_venue, "cut", at_hour(3)),
        Expectation(late_venue, "restore", at_hour(8)),
    ]
    if with_subscribers:
        order(SUBSCRIBER_CURFEW, "curfew", week_ago, "after_hours", "临文执发〔2026〕31号")
        order(SUBSCRIBER_DISCONNECT, "disconnect", week_ago, "unlicensed", "临文执发〔2026〕32号")
        expectations += [
            Expectation(SUBSCRIBER_CURFEW, "cut", at_hour(0)),
            Expectation(SUBSCRIBER_CURFEW, "restore", at_hour(8)),
            Expectation(SUBSCRIBER_DISCONNECT, "cut", at_hour(-1 / 60)),
        ]

    def revoke() -> None:
        revoke_order(store, revoked, "licence restored on appeal", actor="bureau:demo")

    return expectations, [(at_hour(2), revoke)]


def _redial(
    lab: Lab, subscribers: Subscribers, venue: str, accepted: bool, when: str, problems: list[str]
) -> None:
    """The venue's subscriber dials again on its BNG; a problem if the answer is not `accepted`."""
    line = next(line for line in subscribers.lines if line.venue == venue)
    result = lab.bng(line.nas[0]).redial(line.username, line.password)
    if isinstance(result, Session) != accepted:
        got = "accepted" if isinstance(result, Session) else f"rejected ({result.reason})"
        want = "accepted" if accepted else "rejected"
        problems.append(f"{line.name} ({venue}): re-dial at {when} {got}, expected {want}")


def _dial_checks(
    lab: Lab, subscribers: Subscribers, problems: list[str]
) -> list[tuple[datetime, Callable[[], None]]]:
    """At 01:00: the ordered subscribers hold no session and their re-dial is rejected; the
    others are still online."""
    ordered = (SUBSCRIBER_CURFEW, SUBSCRIBER_DISCONNECT)

    def at_one() -> None:
        for line in subscribers.lines:
            held = lab.bng(line.nas[0]).sessions(line.username)
            if line.venue in ordered:
                if held:
                    problems.append(f"{line.name} ({line.venue}): still online at 01:00")
                _redial(lab, subscribers, line.venue, False, "01:00", problems)
            elif not held:
                problems.append(f"{line.name} ({line.venue}): no order, yet offline at 01:00")

    return [(at_hour(1), at_one)]


def _night_table(store: Store) -> str:
    lines = {ln.id: ln for ln in store.lines()}
    venues = {v.id: v.name for v in store.venues()}
    devices = {d.id: d.name for d in store.devices()}
    platforms = {d.id: d.platform for d in store.devices()}
    rows = []
    for change in store.changes(ChangeFilter(kinds=("outcome", "admin"))):
        local = change.at.astimezone(SHANGHAI).strftime("%m-%d %H:%M:%S")
        if change.kind == "admin":
            if change.action == "order_revoked":
                rows.append((local, "", "", venues.get(change.venue_id or 0, ""), "order revoked",
                             ",".join(map(str, change.order_ids)), ""))  # fmt: skip
            continue
        if change.action in ("read", "verify"):
            continue  # a read of a line that held nothing: not a change
        line = lines[change.line_id]
        rows.append(
            (
                local,
                f"{devices[change.device_id or 0]} ({platforms[change.device_id or 0]})",
                line.name,
                venues[line.venue_id],
                change.action,
                ",".join(map(str, change.order_ids)) or "-",
                f"verified {change.state_after}" if change.verified else f"FAILED {change.error}",
            )
        )
    return "\n" + table(
        ("Asia/Shanghai", "router", "line", "venue", "change", "orders", "result"), rows
    )


def _check(store: Store, expectations: list[Expectation], read_devices: bool = True) -> list[str]:
    problems = []
    venue_ids = {v.name: v.id for v in store.venues()}
    outcomes = store.changes(ChangeFilter(kinds=("outcome",)))
    for expected in expectations:
        hit = [
            c
            for c in outcomes
            if c.venue_id == venue_ids[expected.venue]
            and c.action == expected.action
            and c.verified
            and c.at == expected.at
        ]
        if not hit:
            problems.append(
                f"{expected.venue}: no verified {expected.action} at "
                f"{expected.at.astimezone(SHANGHAI):%H:%M}"
            )
    expected_cut = {e.venue for e in expectations if e.action == "cut"} - {
        e.venue for e in expectations if e.action == "restore"
    }
    made = sum(1 for c in outcomes if c.verified and c.action == "cut")
    planned = sum(1 for e in expectations if e.action == "cut")
    if made != planned:
        problems.append(f"{made} cuts were made, expected {planned}")
    if not read_devices:
        return problems
    # Read every router back with the product's own drivers: the truth is on the device.
    lines_by_device: dict[int, list] = {}
    for line in store.lines():
        lines_by_device.setdefault(line.device_id, []).append(line)
    snapshot = store.snapshot()
    for device in store.devices():
        with connect_driver(device, 10) as driver:
            driver.learn(
                snapshot.targets[line.id or 0] for line in lines_by_device.get(device.id or 0, [])
            )
            owned = driver.read()
        for line in lines_by_device.get(device.id or 0, []):
            assert line.id is not None
            venue = next(name for name, vid in venue_ids.items() if vid == line.venue_id)
            want = LineState.CUT if venue in expected_cut else LineState.OPEN
            found = observed_state(owned, snapshot.targets[line.id])
            if found is not want:
                problems.append(
                    f"{device.name} {line.name} ({venue}): device shows {found}, expected {want}"
                )
    return problems

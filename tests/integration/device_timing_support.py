"""What the device-timing integration tests share, whatever the platform: tonight, a two-router
city with R1 opted in, an order on a venue, the owned lines of a twin, and `curfew serve`'s
scheduler run at the real pace through midnight.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv4Network
from zoneinfo import ZoneInfo

from controller.clock import OffsetClock
from controller.models import Device
from controller.orders import OrderCreate, issue_order
from controller.reconciler import PassReport, Reconciler, connect_driver
from controller.scheduler import PassScheduler
from controller.store import Store
from lab.topology import Lab, city
from tests.conftest import SHANGHAI

NIGHT = datetime(2026, 11, 25, tzinfo=SHANGHAI)
OUTSIDE = IPv4Address("203.0.113.9")
BERLIN = ZoneInfo("Europe/Berlin")
# clocks jump 02:00 -> 03:00: a 7-hour night (in UTC, so that adding hours adds real time)
SPRING = datetime(2026, 3, 29, tzinfo=BERLIN).astimezone(UTC)


@contextmanager
def two_router_city(platforms: Sequence[str] = ("cisco_ios",)) -> Iterator[Lab]:
    """R1 and R2 with one venue line each, running; the inventory as `city_inventory`."""
    specs, inventory = city(devices=2, lines_per_device=1, platforms=platforms)
    with Lab(specs) as running:
        running.city_inventory = inventory
        yield running


def opt_in(inventory: dict, *names: str) -> dict:
    """The inventory with these devices opted in to device timing."""
    for device in inventory["devices"]:
        if device["name"] in names:
            device["options"] = {"timing": "device"}
    return inventory


def order(store: Store, venue: str, night: datetime = NIGHT) -> int:
    """A curfew order on the venue, in force from a week before `night`."""
    created = issue_order(
        store,
        OrderCreate(
            venue=venue, kind="curfew", reason="after_hours", legal_basis="临兰文执发〔2018〕3号",
            effective_from=night - timedelta(days=7),
        ),
        actor="bureau:test",
    )  # fmt: skip
    assert created.id is not None
    return created.id


def venue_host(store: Store, line_id: int = 1) -> IPv4Address:
    """A host of the line's IPv4 block."""
    prefix = next(p for p in store.snapshot().targets[line_id].prefixes if p.version == 4)
    assert isinstance(prefix, IPv4Network)
    return prefix.network_address + 5


def owned(lab: Lab, device: str = "R1", mark: str = "CURFEW") -> list[str]:
    """The lines of the twin's running configuration that name an owned object."""
    return [
        line.strip() for line in lab.router(device).running_config().splitlines() if mark in line
    ]


def wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def scheduler_through_midnight(
    lab: Lab, store: Store, arm_lead: timedelta | None = None
) -> PassReport:
    """`curfew serve`'s scheduler on a clock at the real pace from 3 s before midnight (or
    `arm_lead` + 1 s; R1's clock too), with a prepare lead of 2 s and the arm lead given, until
    its first pass that changes a line: that pass."""
    clock = OffsetClock(NIGHT - max(timedelta(seconds=3), (arm_lead or timedelta()) + SECOND))
    store.clock = clock
    lab.router("R1").clock = clock.now
    done: list[PassReport] = []
    scheduler = PassScheduler(
        Reconciler(store), clock, tick=timedelta(hours=1), on_pass=done.append,
        prepare_lead=timedelta(seconds=2), arm_lead=arm_lead,
    )  # fmt: skip
    scheduler.start()
    try:
        wait_for(lambda: any(p.results for p in done))
    finally:
        scheduler.shutdown()
    return next(p for p in done if p.results)


SECOND = timedelta(seconds=1)


def opt_out(store: Store, device_id: int = 1) -> Device:
    """The device opted out of device timing (its options emptied), as stored."""
    with store.session() as s:
        device = s.get(Device, device_id)
        assert device is not None
        device.options_json = "{}"
        s.add(device)
        s.commit()
        s.refresh(device)
    return device


def read_state(store: Store, device: Device, line_id: int = 1) -> str:
    """The line's state as the device's driver reads it now (`open`, `cut`, `unknown`)."""
    target = store.snapshot().targets[line_id]
    with connect_driver(device, 5.0) as driver:
        return driver.read()[line_id].state_for(target).value

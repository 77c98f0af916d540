"""Check the inventory against the devices: a wrong row would cut the wrong venue.

For each line: the interface must exist on its device, and every prefix of the venue must be
routed out of that interface (connected or static). A mismatch blocks cuts on the line (the
planner refuses them and the reconciler restores it) until a verification passes again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from controller.models import Device, Line
from controller.store import Store
from drivers.base import DeviceFacts, Driver, DriverError, Inspects


@dataclass(frozen=True)
class LineCheck:
    line: str
    device: str
    interface: str
    ok: bool | None  # None: the device could not be checked
    problems: tuple[str, ...] = ()


def check_line(line: Line, facts: DeviceFacts) -> list[str]:
    """What is wrong with one inventory row, given what its device says (pure)."""
    problems = []
    if line.interface not in facts.interfaces:
        problems.append(f"interface {line.interface} does not exist on the device")
    for prefix in line.prefixes:
        via = facts.routed_via(prefix)
        if not via:
            problems.append(f"{prefix} is not routed on the device")
        elif line.interface not in via:
            problems.append(
                f"{prefix} is routed via {', '.join(sorted(via))}, not {line.interface}"
            )
    return problems


def verify_inventory(
    store: Store,
    connect: Callable[[Device, float], Driver],
    devices: Iterable[str] | None = None,
    timeout: float = 20.0,
    workers: int = 16,
    actor: str = "inventory-verify",
) -> list[LineCheck]:
    """Check every line of the chosen devices; block or unblock each, and log what changed."""
    chosen = [d for d in store.devices() if devices is None or d.name in set(devices)]
    lines_of: dict[int, list[Line]] = {}
    for line in store.lines():
        lines_of.setdefault(line.device_id, []).append(line)

    def facts_of(device: Device) -> DeviceFacts | str:
        try:
            with connect(device, timeout) as driver:
                if not isinstance(driver, Inspects):
                    return f"platform {device.platform} reports no interfaces or routes"
                return driver.facts()
        except DriverError as exc:
            return f"{type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(chosen)))) as pool:
        answers = dict(zip([d.id for d in chosen], pool.map(facts_of, chosen), strict=True))

    checks: list[LineCheck] = []
    updates: list[tuple[Line, Device, str | None]] = []
    for device in chosen:
        facts = answers[device.id]
        for line in lines_of.get(device.id or 0, []):
            if isinstance(facts, str):
                checks.append(LineCheck(line.name, device.name, line.interface, None, (facts,)))
                continue
            problems = check_line(line, facts)
            checks.append(
                LineCheck(line.name, device.name, line.interface, not problems, tuple(problems))
            )
            updates.append((line, device, "; ".join(problems) or None))
    now = store.clock.now()
    # The lines' verdicts and the records of those that changed, together; "changed" is judged
    # against the row as it stands in this transaction, not as read before the devices answered.
    with store.transaction() as tx:
        for line, device, blocked in updates:
            row = tx.session.get(Line, line.id)
            assert row is not None
            if row.blocked != blocked:
                tx.log_admin(
                    "line_blocked" if blocked else "line_unblocked",
                    actor,
                    line_id=line.id,
                    venue_id=row.venue_id,
                    device_id=device.id,
                    detail=blocked or "inventory matches the device again",
                )
            row.blocked, row.verified_at = blocked, now
            tx.session.add(row)
    return checks

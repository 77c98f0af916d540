"""Check: do sessions a prepare opens survive the lead idle? One router of each SSH platform's
twin, a session opened and read through the product's drivers, left idle, then read again.

Run: .venv/bin/python -m tests.benchmarks.bench_idle_sessions [--idle 130]

Prints, per platform, whether the idle session still answered, how long its read took and how
many SSH keepalives the router received meanwhile (one after each `--keepalive` seconds of
silence, the devices' option; 15 s without it; 0 for none). Not
a test (it waits out the idle time in real time): a figure for README's "Prepare before the
instant".
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from controller.clock import SimulatedClock
from controller.credentials import Vault, generate_key, load_key
from controller.inventory import import_document
from controller.reconciler import connect_driver
from controller.store import Store
from lab.topology import Lab, city

PLATFORMS = ("cisco_ios", "huawei_vrp", "h3c_comware", "juniper_junos", "arista_eos")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=130.0, help="seconds left idle")
    parser.add_argument("--keepalive", type=int, help="the devices' keepalive option (seconds)")
    args = parser.parse_args()
    specs, inventory = city(devices=len(PLATFORMS), lines_per_device=1, platforms=PLATFORMS)
    with tempfile.TemporaryDirectory() as keys, Lab(specs) as lab:
        generate_key(Path(keys) / "secrets.key")
        store = Store.open(
            "sqlite://",
            clock=SimulatedClock(datetime(2026, 11, 24, 22, tzinfo=UTC)),
            vault=Vault(key=load_key(Path(keys) / "secrets.key")),
        )
        document = lab.inventory(inventory)
        if args.keepalive is not None:
            for device in document["devices"]:
                device.setdefault("options", {})["keepalive"] = str(args.keepalive)
        import_document(store, document, "idle sessions")
        drivers = []
        for device in store.devices():
            driver = connect_driver(device, 20.0)
            driver.open()
            driver.read()
            drivers.append((device.name, device.platform, driver))
        print(f"{len(drivers)} sessions opened and read; idle for {args.idle:g} s", flush=True)
        time.sleep(args.idle)
        for name, platform, driver in drivers:
            kept = lab.keepalives(name)
            kept_text = ", no SSH" if kept is None else f", {kept} keepalives received"
            started = time.perf_counter()
            try:
                driver.read()
                took = time.perf_counter() - started
                print(
                    f"{platform}: answered after {args.idle:g} s idle (read {took:.3f} s"
                    f"{kept_text})"
                )
            except Exception as exc:  # noqa: BLE001 - what failed is the figure
                print(f"{platform}: LOST after {args.idle:g} s idle: {type(exc).__name__}: {exc}")
            finally:
                driver.close()
        store.close()


if __name__ == "__main__":
    main()

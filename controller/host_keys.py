"""Pinned SSH host keys: learnt once when the NOC allows it, accepted by the NOC when a router's
key changes; every change written with its change-log record in one transaction.

A pinned key is checked by the driver session itself (`drivers.host_keys`); here is only who
may change which key is pinned, and the record of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from controller.errors import Conflict
from controller.models import Device
from drivers.base import DriverError, HostKeyMismatch, HostKeyUnknown
from drivers.host_keys import fingerprint, offered_host_key
from drivers.registry import driver_for

if TYPE_CHECKING:
    from controller.store import Store, Transaction


class NoHostKey(Conflict):
    """The device is not reached over SSH (eAPI, SNMP, a local namespace): no key to pin."""


class KeyNotOffered(Conflict):
    """The device could not be asked for its key now (unreachable, or outside the management
    networks): nothing accepted. The message names the driver's error."""


class FingerprintMismatch(Conflict):
    """The device offers another key than the one the operator said to accept."""

    def __init__(self, message: str, offered: str) -> None:
        super().__init__(message)
        self.offered = offered


def pin(tx: Transaction, device: Device, key: str, how: str, actor: str) -> None:
    """Pin `key` for `device` in the caller's transaction, with its `host_key_pinned` record."""
    old = device.host_key
    device.host_key, device.host_key_tofu_by = key, None
    tx.session.add(device)
    tx.log_admin(
        "host_key_pinned", actor, device_id=device.id,
        detail=json.dumps(
            {"device": device.name, "fingerprint": fingerprint(key), "key": key, "how": how}
            | ({"replaces": fingerprint(old)} if old and old != key else {})
        ),
    )  # fmt: skip


def learner(store: Store, device_id: int) -> Callable[[str], None]:
    """What a session calls with the key a device offers when it may learn it (trust on first
    use, allowed per import by the NOC): pin it, or refuse the session by raising."""

    def learn(offered: str) -> None:
        try:
            with store.transaction() as tx:
                device = tx.session.get(Device, device_id)
                if device is None:
                    raise HostKeyUnknown(f"device {device_id} is no longer in the inventory")
                if device.host_key is not None:
                    if device.host_key == offered:
                        return  # another session learnt it meanwhile
                    raise HostKeyMismatch(
                        f"{device.name}: the device offers {fingerprint(offered)}, and "
                        f"{fingerprint(device.host_key)} was pinned meanwhile; session refused"
                    )
                allowed_by = device.host_key_tofu_by
                if allowed_by is None:
                    raise HostKeyUnknown(
                        f"{device.name}: learning its host key is no longer allowed"
                    )
                pin(tx, device, offered, f"trust on first use, allowed by {allowed_by}", allowed_by)
        except sa.exc.SQLAlchemyError as exc:
            # never log in with a key that is not on record
            raise HostKeyUnknown(
                f"device {device_id}: the learnt host key was not recorded: {exc}"
            ) from exc

    return learn


@dataclass(frozen=True)
class Offered:
    """The key a device offers now, beside the one pinned for it."""

    device: Device
    key: str
    pinned: str | None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)

    @property
    def pinned_fingerprint(self) -> str | None:
        return fingerprint(self.pinned) if self.pinned else None

    @property
    def changed(self) -> bool:
        return self.key != self.pinned


def offered_key(store: Store, device: Device, timeout: float) -> Offered:
    """Connect to the device and fetch the host key it offers: the key exchange only, no log-in
    and no secret sent. NoHostKey for a device without SSH; KeyNotOffered if it cannot be
    reached (or is outside the management networks)."""
    if not driver_for(device.platform).has_host_key(device.host):
        raise NoHostKey(
            f"{device.name} ({device.platform}) is not reached over SSH: it has no host key "
            "to pin"
        )
    prefer = device.host_key.split()[0] if device.host_key else None
    try:
        address = store.vault.address_for(device.name, device.host)
        key = offered_host_key(address, device.port, timeout, prefer)
    except DriverError as exc:
        raise KeyNotOffered(f"{type(exc).__name__}: {exc}") from exc
    return Offered(device, key, device.host_key)


def accept_host_key(
    store: Store, offered: Offered, actor: str, expected: str | None = None
) -> bool:
    """Pin the key the device offers, if it has the fingerprint the operator `expected` (when
    given), with a `host_key_accepted` record naming the old and new fingerprints and the
    actor, in one transaction. False if that key was pinned already (nothing written)."""
    if expected is not None and expected != offered.fingerprint:
        raise FingerprintMismatch(
            f"{offered.device.name} offers {offered.fingerprint}, not {expected}: nothing "
            "accepted (is something else answering at its address?)",
            offered.fingerprint,
        )
    with store.transaction() as tx:
        device = tx.session.get(Device, offered.device.id)
        if device is None:
            raise HostKeyUnknown(f"device {offered.device.name} is no longer in the inventory")
        if device.host_key == offered.key:
            return False
        old = device.host_key
        device.host_key, device.host_key_tofu_by = offered.key, None
        tx.session.add(device)
        tx.log_admin(
            "host_key_accepted", actor, device_id=device.id,
            detail=json.dumps(
                {"device": device.name, "old_fingerprint": fingerprint(old) if old else None,
                 "new_fingerprint": offered.fingerprint, "key": offered.key}
            ),
        )  # fmt: skip
    return True


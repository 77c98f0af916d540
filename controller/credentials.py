"""Device secrets: the one place a device's password and enable secret are resolved, and how
inline ones are kept at rest; and where devices may be reached with them.

A secret comes from a credentials directory or a `CURFEW_DEVICE_SECRET_<NAME>` environment
variable, named by reference in the inventory (`password_ref: NAME`), or from the import file
itself, kept in the database only encrypted (AES-GCM) with a key held outside it. Never from
an arbitrary variable: whoever may import a device must not be able to name the admin token as
its password. Secrets are sent only to devices inside the management networks.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import socket
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_address
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlmodel import col, select

from controller.errors import Invalid
from controller.host_keys import learner
from controller.models import Device, Line
from controller.settings import DeviceAccessSettings
from drivers.base import AuthFailed, Credentials, DriverError, Peer
from drivers.registry import driver_for

REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
ENV_PREFIX = "CURFEW_DEVICE_SECRET_"
SEALED = "enc:v1:"  # an inline secret at rest: the prefix, then base64(nonce + AES-GCM output)
KEY_BYTES = 32
_NONCE_BYTES = 12
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# where a device row keeps the store it was read from (SQLAlchemy's per-instance `info`)
STORE_OF_ROW = "curfew.store"
KEYGEN_HINT = "`curfew secrets keygen --out FILE`, then set CURFEW_SECRETS_KEY_FILE=FILE"


class SecretsError(Invalid):
    """Device secrets are misconfigured (a key file, the credentials directory); the message
    says what to do."""


class CredentialMissing(AuthFailed):
    """A device's secret cannot be had: its reference names nothing, or it cannot be decrypted.
    Retrying will not help until an operator provides it."""


class OutsideManagementNetworks(DriverError):
    """The device's address is outside CURFEW_MANAGEMENT_NETWORKS: no session, no secret sent."""

    retryable = False


def check_ref(ref: str) -> str:
    if not isinstance(ref, str) or not REF.fullmatch(ref):
        raise ValueError(
            f"{ref!r} is not a credential name: 1-64 of A-Z a-z 0-9 _ . -, starting with a "
            "letter or digit"
        )
    return ref


def env_name(ref: str) -> str:
    """The environment variable that may hold the credential `ref`."""
    return ENV_PREFIX + check_ref(ref).upper().replace(".", "_").replace("-", "_")


# -- the key that encrypts inline secrets ---------------------------------------------------


def generate_key(path: Path) -> None:
    """Write a new random key (base64, mode 0600); refuses to overwrite a file."""
    text = base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode() + "\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(text)


def _private_file(path: Path, what: str) -> os.stat_result:
    """A regular file only this user may read (a symlink to one is followed, as secret mounts
    use them)."""
    try:
        info = path.stat()
    except OSError as exc:
        raise SecretsError(f"{what} {path}: cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise SecretsError(f"{what} {path} is not a regular file")
    if info.st_mode & 0o077:
        raise SecretsError(
            f"{what} {path} is readable or writable by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}): `chmod 600 {path}`"
        )
    return info


def load_key(path: Path) -> bytes:
    """The key of CURFEW_SECRETS_KEY_FILE; SecretsError says what is wrong with the file."""
    _private_file(path, "CURFEW_SECRETS_KEY_FILE")
    try:
        key = base64.urlsafe_b64decode(path.read_text(encoding="ascii").strip())
    except (OSError, UnicodeDecodeError, binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise SecretsError(
            f"CURFEW_SECRETS_KEY_FILE {path} does not hold a key made by {KEYGEN_HINT}"
        )
    return key


def seal(key: bytes, device: str, field_name: str, plain: str) -> str:
    """An inline secret as it is stored: encrypted, bound to its device and field."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plain.encode(), _bound_to(device, field_name))
    return SEALED + base64.b64encode(nonce + sealed).decode()


def unseal(key: bytes, device: str, field_name: str, stored: str) -> str:
    """The plain secret of `seal`; ValueError if it is not one, or not this key's."""
    if not stored.startswith(SEALED):
        raise ValueError("not an encrypted secret")
    try:
        raw = base64.b64decode(stored[len(SEALED) :], validate=True)
        plain = AESGCM(key).decrypt(
            raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _bound_to(device, field_name)
        )
    except (binascii.Error, InvalidTag, ValueError):
        raise ValueError("cannot be decrypted with this key") from None
    return plain.decode()


def _bound_to(device: str, field_name: str) -> bytes:
    # a ciphertext copied to another device's row, or from secret to password, does not open
    return f"curfew/device-secret/v1\0{device}\0{field_name}".encode()


# -- the vault --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vault:
    """Everything a session needs to use a device's secrets, and the rule of where they may be
    sent: the key of inline secrets, the credentials directory, the prefixed environment, the
    management networks. Built from the settings by the store (`Store.from_settings`, or from
    the environment by `Store.open`)."""

    key: bytes | None = field(default=None, repr=False)
    directory: Path | None = None
    networks: tuple[IPv4Network | IPv6Network, ...] | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ, repr=False)

    @classmethod
    def from_settings(cls, settings: DeviceAccessSettings) -> Vault:
        """SecretsError if the key file or the credentials directory is not fit for secrets."""
        directory = settings.credentials_dir
        if directory is not None:
            _owned_directory(directory)
        key_file = settings.secrets_key_file
        return cls(
            key=load_key(key_file) if key_file is not None else None,
            directory=directory,
            networks=settings.networks,
        )

    @classmethod
    def from_environment(cls) -> Vault:
        return cls.from_settings(DeviceAccessSettings())

    # -- inline secrets, encrypted at rest ------------------------------------------------

    def seal(self, device: str, field_name: str, plain: str) -> str:
        if self.key is None:
            raise SecretsError(
                f"an inline {field_name} is kept only encrypted, and no key is configured: "
                f"create one with {KEYGEN_HINT} (or name the secret with {field_name}_ref)"
            )
        return seal(self.key, device, field_name, plain)

    def unseal(self, device: str, field_name: str, stored: str) -> str:
        if self.key is None:
            raise CredentialMissing(
                f"{device}: its {field_name} is stored encrypted and no key is configured "
                "(set CURFEW_SECRETS_KEY_FILE to the key it was encrypted with)"
            )
        try:
            return unseal(self.key, device, field_name, stored)
        except ValueError as exc:
            raise CredentialMissing(
                f"{device}: its stored {field_name}: {exc} (CURFEW_SECRETS_KEY_FILE); import "
                "the device's credentials again"
            ) from None

    # -- secrets by reference --------------------------------------------------------------

    def lookup(self, ref: str) -> str | None:
        """The credential named `ref`: the directory's file first, then the prefixed variable."""
        check_ref(ref)
        if self.directory is not None:
            path = self.directory / ref
            if path.exists() or path.is_symlink():
                _private_file(path, "credential file")
                return path.read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
        return self.environ.get(env_name(ref))

    def resolve(self, device: Device, field_name: str) -> str:
        """The device's password or secret as it is sent; CredentialMissing if it cannot be."""
        ref = getattr(device, f"{field_name}_ref")
        stored: str = getattr(device, field_name)
        if ref is not None:
            try:
                found = self.lookup(ref)
            except SecretsError as exc:
                raise CredentialMissing(f"{device.name}: {field_name}_ref {ref!r}: {exc}") from None
            if found is None:
                where = f"no file {self.directory / ref}, " if self.directory else ""
                raise CredentialMissing(
                    f"{device.name}: {field_name}_ref {ref!r} names no credential: {where}"
                    f"no variable {env_name(ref)}"
                    + ("" if self.directory else " (and CURFEW_CREDENTIALS_DIR is not set)")
                )
            value = found
        elif stored:
            value = self.unseal(device.name, field_name, stored)
        else:
            return ""
        if _CONTROL.search(value):
            # the enable secret is typed at a prompt: a line break would be a command
            raise CredentialMissing(f"{device.name}: its {field_name} holds control characters")
        return value

    # -- where secrets may be sent ---------------------------------------------------------

    def outside(self, host: str) -> list[str]:
        """Why `host` is not inside the management networks (empty: it is, or no limit): each
        of its addresses outside them, or that it does not resolve."""
        if self.networks is None or host.startswith("netns:"):
            return []
        try:
            addresses = _addresses(host)
        except OSError as exc:
            return [f"{host} does not resolve ({exc.strerror or exc}), so it cannot be checked "
                    "against CURFEW_MANAGEMENT_NETWORKS"]  # fmt: skip
        shown = ", ".join(map(str, self.networks))
        return [
            (f"{host} ({address})" if address != host else address)
            + f" is outside CURFEW_MANAGEMENT_NETWORKS ({shown})"
            for address in addresses
            if not any(ip_address(address) in network for network in self.networks)
        ]

    def address_for(self, device_name: str, host: str) -> str:
        """Where to open a session: `host` without management networks; else its address,
        checked now (DNS may have changed since the import) and used as is, so the session
        goes where the check looked."""
        if self.networks is None or host.startswith("netns:"):
            return host
        problems = self.outside(host)
        if problems:
            raise OutsideManagementNetworks(f"{device_name}: {'; '.join(problems)}; not connecting")
        return _addresses(host)[0]


def _addresses(host: str) -> list[str]:
    try:
        return [str(ip_address(host))]
    except ValueError:
        pass
    found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in found))


def _owned_directory(path: Path) -> None:
    try:
        info = path.stat()
    except OSError as exc:
        raise SecretsError(
            f"CURFEW_CREDENTIALS_DIR {path}: cannot read: {exc.strerror or exc}"
        ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise SecretsError(f"CURFEW_CREDENTIALS_DIR {path} is not a directory")
    if info.st_uid != os.geteuid():
        raise SecretsError(
            f"CURFEW_CREDENTIALS_DIR {path} is owned by uid {info.st_uid}, not by the user this "
            f"service runs as (uid {os.geteuid()}): `chown` it to the service user"
        )
    if info.st_mode & 0o022:
        raise SecretsError(
            f"CURFEW_CREDENTIALS_DIR {path} may be written by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}): `chmod 700 {path}`"
        )


# -- a session's credentials ------------------------------------------------------------------


def store_of(device: Device) -> Any:
    """The store a device row was read from (see `controller.store`), or None."""
    return sa.inspect(device).info.get(STORE_OF_ROW)


def session_credentials(device: Device, timeout: float) -> Credentials:
    """What a driver session to `device` is given: its address (checked against the management
    networks), its secrets (resolved by reference or decrypted), its pinned host key, and, if
    the NOC allowed it, a way to learn that key once (recorded in the store's change log)."""
    store = store_of(device)
    vault: Vault = store.vault if store is not None else Vault.from_environment()
    host = vault.address_for(device.name, device.host)
    database = device.options.get("radius_db")  # a NAS's RADIUS database: its password goes there
    database_host = sa.make_url(database).host if database else None
    if database_host:
        vault.address_for(device.name, database_host)
    has_host_key = driver_for(device.platform).has_host_key(device.host)
    learning = (
        has_host_key
        and device.host_key is None
        and device.host_key_tofu_by is not None
        and store is not None
        and device.id is not None
    )
    return Credentials(
        host=host,
        port=device.port,
        username=device.username,
        password=vault.resolve(device, "password"),
        secret=vault.resolve(device, "secret"),
        timeout=timeout,
        extra=device.options,
        host_key=device.host_key,
        trust_unknown_host_key=learning,
        on_host_key_learnt=learner(store, device.id or 0) if learning else None,
        peers=peers_of(store, device, vault) if driver_for(device.platform).needs_peers else (),
    )


def peers_of(store: Any, device: Device, vault: Vault) -> tuple[Peer, ...]:
    """The other devices named by the subscriber lines `device` drives (the NAS devices that may
    hold their sessions), each with its address checked and its DAE secret resolved, in memory
    only. One that cannot be had is given with the reason, so only its sessions fail."""
    if store is None or device.id is None:
        return ()
    with store.session() as s:
        named = {
            name
            for line in s.exec(select(Line).where(Line.device_id == device.id))
            for name in line.nas
        }
        named.discard(device.name)
        others = list(s.exec(select(Device).where(col(Device.name).in_(sorted(named)))))
    peers = []
    for other in others:
        try:
            host = vault.address_for(other.name, other.host)
            peers.append(Peer(other.name, host, other.port, vault.resolve(other, "password")))
        except DriverError as exc:
            peers.append(Peer(other.name, other.host, other.port, problem=str(exc)))
    return tuple(peers)

"""SSH host keys: the OpenSSH public-key lines pinned per device, their fingerprints, and the
check every SSH session makes before it sends a credential.

A session's paramiko client knows only the device's pinned key: a device that offers another
is refused (`HostKeyMismatch`). With no key pinned the session is refused (`HostKeyUnknown`)
unless learning the key once was allowed; whoever allowed it is then told the key, before the
log-in, and may still refuse it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paramiko
from cryptography.hazmat.primitives import serialization

from drivers.base import HostKeyMismatch, HostKeyUnknown, Unreachable

SSH_PORT = 22
# the key types a device may be pinned by (an RSA key is `ssh-rsa`, signed with SHA-2)
KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)
FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")
_LINE = re.compile(r"(\S{1,64}) ([A-Za-z0-9+/]{1,8192}={0,2})(?: [^\x00-\x1f\x7f]{0,256})?")


def parse_host_key(text: object) -> str:
    """A host key as it is pinned: `TYPE BASE64`, a trailing comment dropped. ValueError says
    what is wrong with anything else."""
    if not isinstance(text, str):
        raise ValueError("a host key is a text line")
    match = _LINE.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            "a host key is one OpenSSH public-key line, `ssh-ed25519 AAAA…` (as ssh-keyscan "
            "prints it, without the host name)"
        )
    kind, data = match.groups()
    if kind not in KEY_TYPES:
        raise ValueError(f"host key type {kind!r} is not one of {', '.join(KEY_TYPES)}")
    try:
        blob = base64.b64decode(data, validate=True)
        named = _first_string(blob)
    except (binascii.Error, struct.error, ValueError):
        raise ValueError(f"the {kind} host key's data is not valid base64 key data") from None
    if named != kind:
        raise ValueError(f"the host key's data is a {named!r} key, not {kind!r}")
    line = f"{kind} {base64.b64encode(blob).decode()}"
    try:
        serialization.load_ssh_public_key(line.encode())
        paramiko.PKey.from_type_string(kind, blob)
    except Exception:  # noqa: BLE001 - malformed key data raises many kinds of error
        raise ValueError(f"the host key is not a valid {kind} key") from None
    return line


def _first_string(blob: bytes) -> str:
    (length,) = struct.unpack(">I", blob[:4])
    if length > 64 or len(blob) < 4 + length:
        raise ValueError("no key type in the key data")
    return blob[4 : 4 + length].decode("ascii")


def fingerprint(key_line: str) -> str:
    """OpenSSH's fingerprint of a key line: `SHA256:` and the unpadded base64 of the digest."""
    blob = base64.b64decode(key_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def check_fingerprint(text: str) -> str:
    """A fingerprint as an operator gives it (`SHA256:…`, as `ssh-keygen -lf` prints it)."""
    if not FINGERPRINT.fullmatch(text):
        raise ValueError(
            f"{text!r} is not an SSH key fingerprint: `SHA256:` and 43 base64 characters, as "
            "`ssh-keygen -l` prints it"
        )
    return text


def line_of(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


def _pkey(key_line: str) -> paramiko.PKey:
    kind, data = key_line.split()[:2]
    return paramiko.PKey.from_type_string(kind, base64.b64decode(data))


@dataclass(frozen=True)
class HostKeyCheck:
    """What one session accepts of the device's host key (see the module's docstring)."""

    where: str
    pinned: str | None
    trust_unknown: bool = False
    on_learnt: Callable[[str], None] | None = None

    def client(self) -> paramiko.SSHClient:
        """A paramiko client that makes this check (for netmiko's `_build_ssh_client`)."""
        return _CheckingClient(self)

    def learn(self, offered: str) -> None:
        """An offered key when none is pinned: refused (HostKeyUnknown) unless learning it is
        allowed, then told to whoever learns it (who may refuse by raising)."""
        if not self.trust_unknown:
            raise self.unknown(offered)
        if self.on_learnt is not None:
            self.on_learnt(offered)

    def accept(self, offered: str) -> None:
        """The whole check of an offered key (`TYPE BASE64`): the pinned key must match
        (HostKeyMismatch), or an unknown one is learnt (`learn`)."""
        if self.pinned is None:
            self.learn(offered)
        elif " ".join(self.pinned.split()[:2]) != offered:
            raise self.mismatch(offered)

    def mismatch(self, offered: str) -> HostKeyMismatch:
        assert self.pinned is not None
        offered_print = fingerprint(offered)
        return HostKeyMismatch(
            f"{self.where}: SSH host key mismatch: the device offers {offered_print} "
            f"({offered.split()[0]}), the pinned key is {fingerprint(self.pinned)} "
            f"({self.pinned.split()[0]}); session refused before log-in. If the router's key "
            f"was changed on purpose, accept it: `curfew devices accept-host-key DEVICE "
            f"--fingerprint {offered_print}`"
        )

    def unknown(self, offered: str) -> HostKeyUnknown:
        offered_print = fingerprint(offered)
        return HostKeyUnknown(
            f"{self.where}: no SSH host key is pinned for this device (it offers "
            f"{offered_print}); session refused before log-in. Pin it: give `host_key` in the "
            f"inventory, import with --trust-new-host-keys to learn it once, or accept it "
            f"after checking it on the router's console: `curfew devices accept-host-key DEVICE "
            f"--fingerprint {offered_print}`"
        )


class _UnknownKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Called by paramiko only when no key is pinned: learn it if allowed, else refuse."""

    def __init__(self, check: HostKeyCheck) -> None:
        self.check = check

    def missing_host_key(self, client: Any, hostname: str, key: paramiko.PKey) -> None:
        self.check.learn(line_of(key))


class _CheckingClient(paramiko.SSHClient):
    """paramiko's client knowing only the pinned key; its mismatch becomes ours.

    paramiko prefers the type of a known key in the key exchange, so a device with several
    host keys is asked for the pinned one's type.
    """

    def __init__(self, check: HostKeyCheck) -> None:
        super().__init__()
        self.check = check
        self.set_missing_host_key_policy(_UnknownKeyPolicy(check))

    def connect(self, hostname: str, port: int = SSH_PORT, **kwargs: Any) -> None:  # type: ignore[override]
        if self.check.pinned is not None:
            try:
                pinned = _pkey(self.check.pinned)
            except Exception:  # noqa: BLE001 - a pinned key is validated at import already
                where = self.check.where
                raise HostKeyUnknown(f"{where}: the pinned host key is not valid") from None
            known_as = hostname if port == SSH_PORT else f"[{hostname}]:{port}"
            self.get_host_keys().add(known_as, pinned.get_name(), pinned)
        try:
            super().connect(hostname, port, **kwargs)
        except paramiko.BadHostKeyException as exc:
            self.close()
            raise self.check.mismatch(line_of(exc.key)) from None
        except BaseException:
            self.close()
            raise


def offered_host_key(host: str, port: int, timeout: float, prefer: str | None = None) -> str:
    """The host key a device offers now: the key exchange only, no log-in (nothing is sent
    that could be a credential). `prefer` asks for a key of that type first (the pinned
    key's, so that a changed key is compared like for like)."""
    where = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise Unreachable(f"{where}: cannot connect: {exc}") from exc
    try:
        transport = paramiko.Transport(sock)
    except BaseException:
        sock.close()
        raise
    try:
        transport.banner_timeout = timeout
        if prefer is not None:
            options = transport.get_security_options()
            wanted = "rsa-sha2-512" if prefer == "ssh-rsa" else prefer
            if wanted in options.key_types:
                options.key_types = (wanted, *(k for k in options.key_types if k != wanted))
        transport.start_client(timeout=timeout)
        return line_of(transport.get_remote_server_key())
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise Unreachable(f"{where}: no SSH key exchange: {exc}") from exc
    finally:
        transport.close()

"""RADIUS packets as the lab sends them (pyrad, with curfew's own dictionary): an Access-Request
and an Accounting-Request from a given loopback source, each a bounded wait for its answer."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from pyrad import packet
from pyrad.client import Client, Timeout
from pyrad.dictionary import Dictionary


@functools.cache
def dictionary() -> Dictionary:
    """The dictionary curfew's driver uses too (drivers/radius_dictionary, package data)."""
    with resources.as_file(resources.files("drivers") / "radius_dictionary") as path:
        return Dictionary(str(path))


@dataclass(frozen=True)
class AuthAnswer:
    accepted: bool
    reply_message: str | None = None
    framed_ip: str | None = None  # an address the server assigns (radreply), if any


def client(server: tuple[str, int], source: str, secret: str, timeout: float) -> Client:
    """A pyrad client bound to `source` (so the server sees that address as the NAS)."""
    host, port = server
    radius = Client(
        server=host,
        authport=port,
        acctport=port,
        secret=secret.encode(),
        dict=dictionary(),
        retries=1,
        timeout=timeout,
    )
    radius.bind((source, 0))
    return radius


def access_request(
    server: tuple[str, int],
    source: str,
    secret: str,
    username: str,
    password: str,
    timeout: float = 2.0,
    attributes: Mapping[str, Any] | None = None,
) -> AuthAnswer:
    """One PAP Access-Request; TimeoutError when nothing (valid) answers within `timeout`."""
    radius = client(server, source, secret, timeout)
    try:
        request = radius.CreateAuthPacket(code=packet.AccessRequest, User_Name=username)
        request["User-Password"] = request.PwCrypt(password)
        for name, value in (attributes or {}).items():
            request[name] = value
        try:
            reply = radius.SendPacket(request)
        except Timeout:
            raise TimeoutError(f"no answer from RADIUS {server[0]}:{server[1]}") from None
    finally:
        radius._CloseSocket()
    message = reply.get("Reply-Message")
    framed = reply.get("Framed-IP-Address")
    return AuthAnswer(
        accepted=reply.code == packet.AccessAccept,
        reply_message=message[0] if message else None,
        framed_ip=str(framed[0]) if framed else None,
    )


def accounting_request(
    server: tuple[str, int],
    source: str,
    secret: str,
    attributes: Mapping[str, Any],
    timeout: float = 2.0,
) -> None:
    """One Accounting-Request; returns once the server has answered (it has written the row),
    TimeoutError when it did not answer within `timeout`."""
    radius = client(server, source, secret, timeout)
    try:
        request = radius.CreateAcctPacket(code=packet.AccountingRequest)
        for name, value in attributes.items():
            request[name] = value
        try:
            radius.SendPacket(request)
        except Timeout:
            raise TimeoutError(f"no accounting answer from {server[0]}:{server[1]}") from None
    finally:
        radius._CloseSocket()


__all__ = ["AuthAnswer", "access_request", "accounting_request", "dictionary"]

"""Who serves this café? `GET /api/v1/whois?ip=&at=`: who held an address at an instant, as the
caller's role may see it (a bureau: never a network identifier). Every lookup is recorded."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ActorDep, StoreDep
from controller.bounds import Instant
from controller.whois import WhoisAnswer, whois

router = APIRouter(prefix="/api/v1", tags=["whois"])


@router.get("/whois", response_model=WhoisAnswer)
def whois_lookup(
    store: StoreDep,
    actor: ActorDep,
    ip: Annotated[
        str,
        Query(
            min_length=2,
            max_length=45,
            description="the address seen (IPv4 or IPv6)",
            json_schema_extra={"anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
        ),
    ],  # fmt: skip
    at: Annotated[
        Instant | None, Query(description="the instant it was seen (default: now)")
    ] = None,
) -> WhoisAnswer:
    """The carrier and, for the NOC, auditors and admins, the router port or subscriber session
    that held the address then, its venue, licence and orders in force; for a bureau, the
    carrier, whether the address is a line of a licensed venue, and which venue within its
    jurisdiction. The lookup is recorded in the change log (action `whois`)."""
    return whois(store, ip, at, actor)

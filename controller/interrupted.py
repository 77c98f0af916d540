"""Intents without an outcome: pushes that were interrupted (a controller killed mid-push),
and how each was resolved — the write-ahead log's loose ends, as an auditor asks for them.

An intent makes its line's state unknown when it is written, so the next pass reads the device
before deciding; the first verified outcome on the line after the intent resolves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Session, col, select

from controller.models import Change


@dataclass(frozen=True)
class InterruptedIntent:
    seq: int
    at: datetime
    pass_id: str | None
    actor: str
    action: str
    line_id: int | None
    device_id: int | None
    order_ids: tuple[int, ...]
    # resolved: a verified outcome on the line since; unresolved: nothing verified since (the
    # line's state is still unknown, or its push is under way right now)
    resolution: Literal["resolved", "unresolved"]
    resolved_seq: int | None = None
    resolved_at: datetime | None = None
    resolved_action: str | None = None
    resolved_state: str | None = None


def interrupted_intents(
    engine: sa.Engine, since: datetime | None = None, until: datetime | None = None
) -> list[InterruptedIntent]:
    """Every intent (written in [since, until)) that no outcome answers, with its resolution."""
    answered = select(col(Change.intent_seq)).where(
        Change.kind == "outcome", col(Change.intent_seq).is_not(None)
    )
    query = (
        select(Change)
        .where(Change.kind == "intent", col(Change.seq).not_in(answered))
        .order_by(col(Change.seq))
    )
    if since is not None:
        query = query.where(col(Change.at) >= since)
    if until is not None:
        query = query.where(col(Change.at) < until)
    found = []
    with Session(engine) as session:
        for intent in session.exec(query):
            after = None
            if intent.line_id is not None:
                after = session.exec(
                    select(Change)
                    .where(
                        Change.kind == "outcome",
                        Change.line_id == intent.line_id,
                        col(Change.seq) > intent.seq,
                        col(Change.verified).is_(True),
                    )
                    .order_by(col(Change.seq))
                    .limit(1)
                ).first()
            found.append(
                InterruptedIntent(
                    seq=intent.seq, at=intent.at, pass_id=intent.pass_id, actor=intent.actor,
                    action=intent.action, line_id=intent.line_id, device_id=intent.device_id,
                    order_ids=tuple(intent.order_ids),
                    resolution="resolved" if after is not None else "unresolved",
                    resolved_seq=after.seq if after else None,
                    resolved_at=after.at if after else None,
                    resolved_action=after.action if after else None,
                    resolved_state=after.state_after if after else None,
                )
            )  # fmt: skip
    return found

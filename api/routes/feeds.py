"""Order feeds and bureau signing keys over HTTP: the NOC watches and pulls, admins register."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ActorDep, SchedulerDep, StoreDep, reconcile_soon
from controller import feeds
from controller.bounds import ONE_LINE
from controller.models import MAX_ROW_ID, AuthorityKey, Feed

router = APIRouter(prefix="/api/v1", tags=["feeds"])
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


class FeedPublic(BaseModel):
    id: int
    authority_id: int
    source: str
    interval_seconds: int
    last_pulled_at: datetime | None
    last_published_at: datetime | None
    last_sequence: int | None
    last_error: str | None

    @classmethod
    def of(cls, feed: Feed) -> FeedPublic:
        return cls.model_validate(feed.model_dump())


class FeedCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    authority: str = Field(min_length=1, max_length=200, pattern=ONE_LINE)
    source: str = Field(
        min_length=1, max_length=2000, pattern=ONE_LINE, description="https URL or file path"
    )
    interval_seconds: int = Field(default=300, ge=10, le=86400)


class KeyPublic(BaseModel):
    id: int
    authority_id: int
    public_key: str
    added_at: datetime
    added_by: str
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: AuthorityKey) -> KeyPublic:
        return cls.model_validate(key.model_dump())


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    authority: str = Field(min_length=1, max_length=200, pattern=ONE_LINE)
    public_key: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="Ed25519, 32 bytes in hex")


@router.get("/feeds", response_model=list[FeedPublic])
def list_feeds(store: StoreDep) -> list[FeedPublic]:
    """Every registered feed with its last pull, last sequence applied and last problem."""
    return [FeedPublic.of(f) for f in feeds.list_feeds(store)]


@router.post("/feeds", status_code=201, response_model=FeedPublic)
def add_feed(body: FeedCreate, store: StoreDep, actor: ActorDep) -> FeedPublic:
    return FeedPublic.of(
        feeds.add_feed(store, body.authority, body.source, body.interval_seconds, actor.name)
    )


@router.post("/feeds/{feed_id}/pull")
def pull_feed(feed_id: RowId, store: StoreDep, scheduler: SchedulerDep) -> dict[str, Any]:
    """Pull now; a pull that changed an order asks the scheduler for a pass at once."""
    feeds.find_feed(store, feed_id)
    report = feeds.pull_feed(store, feed_id)
    if report.changed:
        reconcile_soon(scheduler)
    return {
        "feed_id": report.feed_id,
        "outcome": report.outcome,
        "sequence": report.sequence,
        "code": report.code,
        "reason": report.reason,
        "counts": report.counts,
        "entries": [e.as_record() for e in report.entries],
        "change_seq": report.change_seq,
    }


@router.get("/authority-keys", response_model=list[KeyPublic])
def list_keys(store: StoreDep) -> list[KeyPublic]:
    return [KeyPublic.of(k) for k in feeds.authority_keys(store)]


@router.post("/authority-keys", status_code=201, response_model=KeyPublic)
def add_key(body: KeyCreate, store: StoreDep, actor: ActorDep) -> KeyPublic:
    """Register the Ed25519 key a bureau signs its feed with."""
    return KeyPublic.of(feeds.add_key(store, body.authority, body.public_key, actor.name))


@router.post("/authority-keys/{key_id}/revoke", response_model=KeyPublic)
def revoke_key(key_id: RowId, store: StoreDep, actor: ActorDep) -> KeyPublic:
    return KeyPublic.of(feeds.revoke_key(store, key_id, actor.name))

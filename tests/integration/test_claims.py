"""Device claims on each database: one holder at a time, released on release or at the end."""

from __future__ import annotations

import sqlalchemy as sa

from controller.claims import claims_for
from controller.db import make_engine


def test_a_device_has_one_holder_at_a_time(database_url: str) -> None:
    first_engine, second_engine = make_engine(database_url), make_engine(database_url)
    try:
        with claims_for(first_engine) as first:
            with claims_for(second_engine) as second:
                assert first.try_claim(7)
                assert not second.try_claim(7), "held by the other instance"
                assert not first.try_claim(7), "nor twice by the same pass"
                assert second.try_claim(8), "another device is free"
                first.release(7)
                assert second.try_claim(7)
                assert not first.try_claim(8)
            # leaving a pass's claims releases all it still held
            assert first.try_claim(7) and first.try_claim(8)
    finally:
        first_engine.dispose()
        second_engine.dispose()


def test_an_in_memory_database_has_claims_within_its_process() -> None:
    engine = sa.create_engine("sqlite://")
    with claims_for(engine) as first, claims_for(engine) as second:
        assert first.try_claim(1) and not second.try_claim(1)
        first.release(1)
        assert second.try_claim(1)


def test_a_sqlite_store_gives_each_of_many_workers_a_connection(tmp_path) -> None:
    """256 routers armed at once each want a connection: SQLite makes writers wait on the
    database itself, so the pool never refuses one (with 5 + 10 connections, the 16th waited
    30 s and failed its router)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'curfew.db'}")
    held = [engine.connect() for _ in range(40)]
    try:
        assert all(c.execute(sa.text("select 1")).scalar() == 1 for c in held)
    finally:
        for connection in held:
            connection.close()
        engine.dispose()

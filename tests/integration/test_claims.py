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

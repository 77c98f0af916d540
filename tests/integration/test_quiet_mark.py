"""`Store.quiet_mark`: what a plan made ahead of an instant is checked against at it. It must
move with every write a snapshot would see — orders, records (and the line states written with
them), and inventory rows however they are written — and with nothing else."""

from __future__ import annotations

from controller.changelog import NewChange
from controller.inventory import import_document
from controller.models import Device
from controller.store import QuietMark, Store
from tests.integration.device_timing_support import order


def moved(before: QuietMark, after: QuietMark) -> set[str]:
    return {name for name in QuietMark._fields if getattr(before, name) != getattr(after, name)}


def test_the_quiet_mark_moves_with_every_write_a_snapshot_sees(store: Store, small_city: dict):
    import_document(store, small_city, "small city")
    mark = store.quiet_mark()
    assert store.snapshot().quiet == mark
    assert store.quiet_mark() == mark  # reading moves nothing

    def after(write: str) -> set[str]:
        """The marks `write` (described) moved since the last call."""
        nonlocal mark
        before, mark = mark, store.quiet_mark()
        found = moved(before, mark)
        print(f"{write}: {sorted(found)}")  # shown with a failing assertion
        return found

    # inventory rows, written by SQL no part of the product checks: the database's triggers
    with store.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE lines SET blocked = 'test' WHERE id = 1")
    assert after("a line updated") == {"inventory"}
    with store.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO venues (name, licence, zone) VALUES ('Venue X', '', 'Asia/Shanghai')"
        )
    assert after("a venue inserted") == {"inventory"}
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM venues WHERE name = 'Venue X'")
    assert after("a venue deleted") == {"inventory"}
    with store.session() as session:  # and through the ORM
        device = session.get(Device, 1)
        assert device is not None
        device.options_json = '{"timing": "device"}'
        session.add(device)
        session.commit()
    assert after("a device updated") == {"inventory"}
    with store.engine.begin() as connection:  # a write that changes no row moves nothing
        connection.exec_driver_sql("UPDATE lines SET blocked = 'test' WHERE id = -1")
    assert after("no row written") <= {"inventory"}  # PostgreSQL's statement trigger fires

    # an order: its event, and the admin record issuing it
    venue = store.venues()[0].name
    order(store, venue)
    assert "order_event" in after("an order issued")
    # a record, and nothing else
    store.append(
        [
            NewChange(
                at=store.clock.now(), kind="outcome", action="cut", actor="test", pass_id="p",
                order_ids=(), line_id=1, venue_id=1, device_id=1, state_after="cut",
                verified=True,
            )
        ]
    )  # fmt: skip
    assert after("a record appended") == {"record"}
    # a snapshot read after all of it begins with the mark as it is now
    assert store.snapshot().quiet == mark

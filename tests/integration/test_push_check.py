"""`Store.push_check`, the read a pass makes of each router just before pushing it (on the
DB-API cursor): it must say what a snapshot says of the same lines, or every router would be
planned again (`_states_moved`), and it must find the intents a killed push left."""

from __future__ import annotations

import json
from datetime import timedelta

from controller.changelog import NewChange
from controller.inventory import import_document
from controller.models import Change, Device
from controller.store import StateRow, Store


def test_push_check_reads_what_a_snapshot_reads(store: Store, small_city: dict) -> None:
    import_document(store, small_city, "small city")
    snap = store.snapshot()
    device_id = snap.lines[0].device_id
    cut, killed = [line.line_id for line in snap.lines if line.device_id == device_id][:2]
    never = max(line.line_id for line in snap.lines) + 1  # no state recorded for it
    now = store.clock.now()

    def entry(kind: str, line_id: int, state: str | None) -> NewChange:
        return NewChange(
            at=now, kind=kind, action="cut", actor="test", pass_id="p1", order_ids=(7,),
            line_id=line_id, venue_id=snap.line_venue[line_id], device_id=device_id,
            state_after=state, verified=state is not None,
        )  # fmt: skip

    def states(state: str, line_id: int, at_offset: int) -> object:
        def of(written: list[Change]) -> list[StateRow]:
            at = now + timedelta(seconds=at_offset)
            return [StateRow(line_id, state, at, written[0].seq, json.dumps([7]))]

        return of

    store.append([entry("outcome", cut, "cut")], states("cut", cut, 1))  # type: ignore[arg-type]
    intent = store.append([entry("intent", killed, None)], states("unknown", killed, 2))  # type: ignore[arg-type]

    snap = store.snapshot()
    check = store.push_check(device_id, [cut, killed, never, cut])

    assert check.statuses == {
        line_id: (snap.states[line_id].state, snap.states[line_id].checked_at)
        for line_id in (cut, killed)
    }
    assert check.statuses[cut][1] == now + timedelta(seconds=1)  # aware, UTC, as written
    assert set(check.orphans) == {killed}
    assert (check.orphans[killed].seq, check.orphans[killed].action) == (intent[0].seq, "cut")
    assert (check.order_mark, check.frozen) == (snap.order_mark, False)
    assert store.push_check(device_id, []).statuses == {}

    with store.session() as session:
        device = session.get(Device, device_id)
        assert device is not None
        device.frozen = True
        session.add(device)
        session.commit()
    assert store.push_check(device_id, [cut]).frozen

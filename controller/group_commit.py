"""Group commit: the appends of a pass's workers, written together.

At 00:00 every router's worker writes its intents before its push and its outcomes after, each
an append of its own: a thousand routers were two thousand transactions, most of their cost
the transaction and not the records (BENCHMARKS.md). Here a worker that finds no write under
way writes its own records together with every other worker's that are waiting, in one
transaction; the others wait for it. Nothing returns before its records are committed, so
write-ahead holds as before: a router is pushed only once its intents are in the log, and its
outcomes are in the log before its claim is released.

If a group's transaction fails, each of its appends is tried again alone, so one bad append
(say, a state that breaks a constraint) fails only its own worker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from controller.changelog import NewChange
from controller.models import Change, LineStatus

if TYPE_CHECKING:
    from controller.store import StateRow, StatesOf, Store


class _Pending:
    __slots__ = ("entries", "states", "written", "error", "done")

    def __init__(self, entries: list[NewChange], states: StatesOf | None) -> None:
        self.entries = entries
        self.states = states
        self.written: list[Change] = []
        self.error: BaseException | None = None
        self.done = False


class GroupAppender:
    """`append` as `Store.append` does, sharing transactions with concurrent callers."""

    def __init__(self, store: Store, on_group: Callable[[int, int], None] | None = None) -> None:
        self._store = store
        self._cond = threading.Condition()
        self._queue: list[_Pending] = []
        self._busy = False
        # told (appends, records) of each transaction written: how the appends were grouped
        self._on_group = on_group

    @property
    def waiting(self) -> int:
        """Appends queued for the next group (not yet being written)."""
        with self._cond:
            return len(self._queue)

    @property
    def writing(self) -> bool:
        """Whether a group is being written now."""
        with self._cond:
            return self._busy

    def append(self, entries: Sequence[NewChange], states: StatesOf | None = None) -> list[Change]:
        mine = _Pending(list(entries), states)
        if not mine.entries:
            return []
        group: list[_Pending] | None = None
        with self._cond:
            self._queue.append(mine)
            while self._busy and not mine.done:
                self._cond.wait()
            if not mine.done:
                # no write under way and ours not written: we write, for all who wait
                self._busy = True
                group, self._queue = self._queue, []
        if group is not None:
            try:
                self._write(group)
            finally:
                with self._cond:
                    for pending in group:
                        if not pending.written and pending.error is None:
                            # the writer was interrupted: nobody may take it as written
                            pending.error = RuntimeError("group commit interrupted")
                        pending.done = True
                    self._busy = False
                    self._cond.notify_all()
        if mine.error is not None:
            raise mine.error
        return mine.written

    def _write(self, group: list[_Pending]) -> None:
        if len(group) == 1:
            self._alone(group[0])
            return
        records = [entry for pending in group for entry in pending.entries]
        with_states = any(p.states is not None for p in group)

        def states(written: list[Change]) -> list[LineStatus | StateRow]:
            rows: list[LineStatus | StateRow] = []
            start = 0
            for pending in group:
                end = start + len(pending.entries)
                pending.written = written[start:end]
                if pending.states is not None:
                    rows.extend(pending.states(pending.written))
                start = end
            return rows

        try:
            written = self._store.commit_records(records, states if with_states else None)
        except Exception:
            # nothing of the group was committed; one of them may be at fault: each alone
            for pending in group:
                self._alone(pending)
            return
        start = 0
        for pending in group:
            pending.written = written[start : start + len(pending.entries)]
            start += len(pending.entries)
        if self._on_group is not None:
            self._on_group(len(group), len(records))
        try:
            self._store.after_append(written)
        except BaseException as exc:  # committed: told to every writer, never written again
            for pending in group:
                pending.error = exc

    def _alone(self, pending: _Pending) -> None:
        try:
            pending.written = self._store.append(pending.entries, states=pending.states)
        except BaseException as exc:
            pending.error = exc
        else:
            if self._on_group is not None:
                self._on_group(1, len(pending.entries))

"""The cyclic garbage collector held back while a pass acts.

A midnight pass allocates fast (a router's read, its parse, its records) over a heap that holds
the store's snapshot of a city and every prepared session. Each of the collector's passes over
the old generation walks all of it: in a 300-router act pass they took a fifth of its time
(BENCHMARKS.md). While a pass acts, what exists when it starts is frozen out of the collector's
walks (`gc.freeze`) and its youngest generation is collected less often; both are undone when
the last pass acting ends. Reference counting still frees nearly everything at once: what waits
is only cyclic garbage, for the length of a pass.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# allocations (less deallocations) between collections of the youngest generation while a
# pass acts: Python's default is 700
YOUNG_THRESHOLD = 50_000

_lock = threading.Lock()
_holding = 0  # passes acting now, in any thread
_restore: tuple[int, int, int] | None = None  # the thresholds to put back after the last


@contextmanager
def held_back() -> Iterator[None]:
    """Freeze the heap and collect the young generation less often while the block runs;
    passes may overlap (in threads): the collector is as it was once the last one ends."""
    global _holding, _restore
    with _lock:
        if _holding == 0:
            _restore = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(max(YOUNG_THRESHOLD, _restore[0]), *_restore[1:])
        _holding += 1
    try:
        yield
    finally:
        with _lock:
            _holding -= 1
            if _holding == 0 and _restore is not None:
                gc.set_threshold(*_restore)
                gc.unfreeze()
                _restore = None

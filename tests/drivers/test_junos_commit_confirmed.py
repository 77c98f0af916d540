"""The Junos commit lifecycle against the lab twin: a cut is committed with `commit confirmed`
and confirmed only after read-back; what is not confirmed rolls back by itself on lab time.

The headline case: a controller killed between `commit confirmed` and the confirming `commit`
leaves a change the router undoes N minutes later, and the next pass sees it and applies again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from ipaddress import ip_network
from typing import Any

import pytest
from netmiko import ConnectHandler

from drivers.base import (
    Batch,
    BatchResult,
    Credentials,
    LineOutcome,
    LineState,
    LineTarget,
    Rejected,
    Timeout,
    Unreachable,
    VerifyFailed,
)
from drivers.juniper_junos import COMMIT_COMMENT, ConfigurationBusy, JuniperJunosDriver
from lab.juniper_junos import JunosRouter, apply_line
from lab.topology import DeviceSpec, Lab

pytestmark = pytest.mark.lab

PORTS = ("ge-0/0/0", "ge-0/0/1", "ge-0/0/2")
VENUES = (
    "set interfaces ge-0/0/1 unit 0 family inet address 198.18.1.1/24",
    "set interfaces ge-0/0/1 unit 0 family inet6 address 2001:db8:1::1/48",
    "set interfaces ge-0/0/2 unit 0 family inet address 198.18.2.1/24",
)
L42 = LineTarget(42, "ge-0/0/1", (ip_network("198.18.1.0/24"), ip_network("2001:db8:1::/48")))
L43 = LineTarget(43, "ge-0/0/2", (ip_network("198.18.2.0/24"),))
CUT_42 = {
    "set interfaces ge-0/0/1 unit 0 family inet filter input CURFEW-L42",
    "set interfaces ge-0/0/1 unit 0 family inet6 filter output CURFEW6-L42",
    "set firewall family inet filter CURFEW-L42 term s from source-address 198.18.1.0/24",
    "set firewall family inet6 filter CURFEW6-L42 term d from destination-address 2001:db8:1::/48",
}
CONFIRMED = f'commit confirmed 5 comment "{COMMIT_COMMENT}"'
CONFIRM = f'commit comment "{COMMIT_COMMENT}"'
# What a session sends before its first pushed line: netmiko's three `set cli` commands, the
# read (three: commits, the configuration, the interfaces with groups applied), `configure
# exclusive` and the read under the lock (three).
BEFORE_PUSH = 10


class ControllerKilled(BaseException):
    """Stands for the controller process dying at that instant (not an error it could catch)."""


def killed() -> None:
    raise ControllerKilled


class Rig:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    @property
    def router(self) -> JunosRouter:
        return self.lab.router("R1")

    def driver(self, extra: dict[str, str] | None = None, **options: Any) -> JuniperJunosDriver:
        spec = self.lab.specs[0]
        credentials = Credentials(
            self.lab.host, spec.port, spec.username, spec.password, timeout=5,
            extra=extra or {}, host_key=spec.host_key,
        )  # fmt: skip
        return JuniperJunosDriver("R1", credentials, **options)

    def apply(self, batch: Batch, **options: Any) -> BatchResult:
        return self.driver(**options).apply(batch)

    def config(self) -> str:
        return self.router.running_config()

    def lines(self) -> set[str]:
        return set(self.config().splitlines())

    def wait_until_unlocked(self) -> None:
        """The dead session's lock goes with it; the twin notices once the SSH session ends."""
        deadline = time.monotonic() + 5
        while self.router.exclusive_holder() is not None:
            assert time.monotonic() < deadline, "the dropped session still holds the lock"
            time.sleep(0.01)


@pytest.fixture
def start() -> Iterator[Callable[..., Rig]]:
    labs: list[Lab] = []

    def starter(**faults: Any) -> Rig:
        spec = DeviceSpec("R1", platform="juniper_junos", interfaces=PORTS, config=VENUES, **faults)
        lab = Lab([spec]).start()
        labs.append(lab)
        return Rig(lab)

    yield starter
    for lab in labs:
        lab.stop()


def outcome(result: BatchResult, line_id: int) -> LineOutcome:
    return next(o for o in result.outcomes if o.line_id == line_id)


# ------------------------------------------------------------------------------ the issue


def test_a_killed_pass_rolls_back_by_itself_and_the_next_pass_reapplies(
    start: Callable[..., Rig],
) -> None:
    rig = start()
    before = rig.config()

    with pytest.raises(ControllerKilled):
        rig.apply(Batch(cuts=(L42,)), after_commit_confirmed=killed)

    assert CUT_42 <= rig.lines(), "the commit went in"
    assert "commit confirmed, rollback in 5mins" in rig.router.show_system_commit()
    rig.wait_until_unlocked()
    rig.router.clock.advance(minutes=4)
    assert CUT_42 <= rig.lines(), "not rolled back before its deadline"
    rig.router.clock.advance(minutes=1, seconds=30)
    assert rig.config() == before, "rolled back by itself"
    assert "automatic rollback complete" in rig.router.events[-1]

    again = rig.apply(Batch(cuts=(L42,)))

    assert again.ok, again
    found = outcome(again, 42)
    assert found.commands and (found.state_after, found.verified) == (LineState.CUT, True)
    assert again.commands[-3:] == (CONFIRMED, CONFIRM, "exit configuration-mode")
    assert rig.router.pending is None
    cut = rig.config()
    rig.router.clock.advance(minutes=60)
    assert rig.config() == cut, "confirmed: stays"
    assert CUT_42 <= rig.lines()


def test_a_session_dropped_right_after_commit_confirmed_is_undone_and_reapplied(
    start: Callable[..., Rig],
) -> None:
    pushed = 14  # the cut of a dual-stack line: 10 filter lines, 4 bindings
    rig = start(drop_after=BEFORE_PUSH + pushed + 1)
    before = rig.config()

    dropped = rig.apply(Batch(cuts=(L42,)))

    assert isinstance(dropped.error, Unreachable) and dropped.error.retryable
    assert outcome(dropped, 42).state_after is LineState.UNKNOWN
    assert dropped.commands[-1] == CONFIRMED
    assert rig.router.pending is not None, "the drop came after commit confirmed"
    rig.lab.set_fault("R1", drop_after=None)
    rig.router.clock.advance(minutes=6)
    assert rig.config() == before

    again = rig.apply(Batch(cuts=(L42,)))
    rig.router.clock.advance(minutes=6)

    assert again.ok and outcome(again, 42).state_after is LineState.CUT
    assert CUT_42 <= rig.lines()


def test_a_pass_inside_the_window_confirms_what_the_killed_pass_committed(
    start: Callable[..., Rig],
) -> None:
    rig = start()
    with pytest.raises(ControllerKilled):
        rig.apply(Batch(cuts=(L42,)), after_commit_confirmed=killed)
    rig.wait_until_unlocked()
    cut = rig.config()

    again = rig.apply(Batch(cuts=(L42,)))

    assert again.ok
    assert outcome(again, 42).commands == () and outcome(again, 42).verified
    assert again.commands == ("configure exclusive", CONFIRM, "exit configuration-mode")
    assert rig.router.pending is None
    rig.router.clock.advance(minutes=30)
    assert rig.config() == cut


def test_someone_elses_unconfirmed_commit_is_not_built_upon(start: Callable[..., Rig]) -> None:
    rig = start()
    with ConnectHandler(**rig.lab.connection("R1"), fast_cli=True) as operator:
        operator.send_config_set(["set system ntp server 192.0.2.99"], exit_config_mode=False)
        operator.commit(confirm=True, confirm_delay=3)
        operator.exit_config_mode()
    theirs = rig.config()

    busy = rig.apply(Batch(cuts=(L42,)))

    assert isinstance(busy.error, ConfigurationBusy) and busy.error.retryable
    assert "awaits confirmation" in str(busy.error)
    assert busy.commands == () and outcome(busy, 42).state_after is LineState.UNKNOWN
    assert rig.config() == theirs
    rig.router.clock.advance(minutes=4)
    assert "set system ntp server 192.0.2.99" not in rig.lines(), "theirs rolled back"
    assert rig.apply(Batch(cuts=(L42,))).ok


# ------------------------------------------------------------------------ verify, then confirm


def drop_a_binding(config: dict[str, Any]) -> None:
    """A commit script on the router that removes one of line 42's bindings as it commits."""
    apply_line(config, "delete interfaces ge-0/0/1 unit 0 family inet6 filter output")


def test_read_back_that_differs_is_rolled_back_not_confirmed(start: Callable[..., Rig]) -> None:
    rig = start()
    before = rig.config()
    rig.router.commit_script = drop_a_binding

    result = rig.apply(Batch(cuts=(L42, L43)))

    assert isinstance(result.error, VerifyFailed) and result.error.retryable
    assert "line(s) 42" in str(result.error) and "rollback 1" in str(result.error)
    assert result.commands[-4:] == (CONFIRMED, "rollback 1", CONFIRM, "exit configuration-mode")
    assert CONFIRM not in result.commands[: result.commands.index("rollback 1")]
    assert rig.config() == before, "the whole commit is undone at once"
    assert rig.router.pending is None
    for line_id in (42, 43):
        found = outcome(result, line_id)
        assert (found.state_after, found.verified) == (LineState.OPEN, False)
        assert found.error is not None and found.error.startswith("VerifyFailed")


def test_a_refused_commit_is_rejected_and_the_candidate_discarded(
    start: Callable[..., Rig],
) -> None:
    # The inet6 filter is refused line by line, so its bindings name a filter that does not
    # exist and the commit's check-out fails.
    rig = start(reject=(r"^set firewall family inet6 filter CURFEW6",))
    before = rig.config()

    result = rig.apply(Batch(cuts=(L42, L43)))

    assert isinstance(result.error, Rejected) and not result.error.retryable
    assert "configuration check-out failed" in str(result.error)
    assert "Referenced filter 'CURFEW6-L42' is not defined" in result.device_output
    assert result.commands[-2:] == ("rollback 0", "exit configuration-mode")
    assert CONFIRM not in result.commands
    assert rig.config() == before
    assert rig.router.candidate_config() == before, "nothing left in the candidate"
    assert rig.router.exclusive_holder() is None
    for line_id in (42, 43):
        found = outcome(result, line_id)
        assert (found.state_after, found.verified) == (LineState.OPEN, False)
        assert found.error is not None and found.error.startswith("Rejected: ")


def test_a_commit_that_never_answers_is_a_timeout_and_changes_nothing(
    start: Callable[..., Rig],
) -> None:
    rig = start()
    before = rig.config()
    rig.router.hang_commit = True

    started = time.perf_counter()
    result = rig.apply(Batch(cuts=(L42,)), commit_timeout=1)

    # the 1 s commit timeout ends it, not the 60 s default
    assert time.perf_counter() - started < 15
    assert isinstance(result.error, Timeout) and result.error.retryable
    assert outcome(result, 42).state_after is LineState.UNKNOWN
    assert rig.config() == before
    rig.wait_until_unlocked()
    rig.router.hang_commit = False
    assert rig.apply(Batch(cuts=(L42,))).ok


# ---------------------------------------------------------------------- settings and locks


def test_a_restore_only_batch_commits_without_a_confirm_window(start: Callable[..., Rig]) -> None:
    rig = start()
    before = rig.config()
    assert rig.apply(Batch(cuts=(L42,))).ok

    restored = rig.apply(Batch(restores=(L42,)), after_commit_confirmed=killed)

    assert restored.ok
    assert not any(c.startswith("commit confirmed") for c in restored.commands)
    assert restored.commands[-2:] == (CONFIRM, "exit configuration-mode")
    assert rig.router.pending is None
    rig.router.clock.advance(minutes=30)
    assert rig.config() == before, "a restore never rolls back into a cut"


def test_the_confirm_window_is_a_driver_setting(start: Callable[..., Rig]) -> None:
    rig = start()
    before = rig.config()

    with pytest.raises(ControllerKilled):
        rig.apply(Batch(cuts=(L42,)), extra={"confirm_minutes": "2"}, after_commit_confirmed=killed)

    assert "commit confirmed, rollback in 2mins" in rig.router.show_system_commit()
    rig.router.clock.advance(minutes=1, seconds=30)
    assert CUT_42 <= rig.lines()
    rig.router.clock.advance(minutes=1)
    assert rig.config() == before
    assert rig.driver(confirm_minutes=7).confirm_minutes == 7
    with pytest.raises(ValueError, match="confirm_minutes"):
        rig.driver(confirm_minutes=0)


def test_uncommitted_changes_of_someone_else_make_the_device_busy(
    start: Callable[..., Rig],
) -> None:
    rig = start()
    before = rig.config()
    operator = rig.router.open_session()
    operator.execute("configure")
    operator.execute("set system ntp server 192.0.2.99")

    busy = rig.apply(Batch(cuts=(L42,)))

    assert isinstance(busy.error, ConfigurationBusy) and busy.error.retryable
    assert "configuration database modified" in str(busy.error)
    assert busy.commands == ("configure exclusive",)
    assert rig.config() == before
    assert "set system ntp server 192.0.2.99" in rig.router.candidate_config(), "left as it was"


def test_an_exclusive_lock_held_by_someone_else_makes_the_device_busy(
    start: Callable[..., Rig],
) -> None:
    rig = start()
    holder = rig.router.open_session()
    holder.execute("configure exclusive")

    busy = rig.apply(Batch(cuts=(L42,)))

    assert isinstance(busy.error, ConfigurationBusy) and "locked" in str(busy.error)
    holder.execute("exit configuration-mode")
    assert rig.apply(Batch(cuts=(L42,))).ok


# ------------------------------------------------------------------------------------- cost

"""The one conformance suite every registered driver passes, against its lab twin.

Each test starts its own simulated router over SSH and drives it through the `Driver`
contract only; what a platform spells differently lives in its `Profile` below.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from typing import Any

import pytest

from drivers.base import (
    Action,
    AuthFailed,
    Batch,
    BatchResult,
    Credentials,
    Driver,
    InvalidIdentifier,
    LineOutcome,
    LineState,
    LineTarget,
    Rejected,
    StagedLine,
    StageResult,
    Staging,
    Timeout,
    Unreachable,
    WritesAhead,
    announced,
    observed_state,
)
from drivers.cli import SESSION_OPTION
from drivers.registry import DRIVERS, driver_for
from drivers.timing import DeviceClock, DeviceTimed, RestoreTimed
from lab.topology import DeviceSpec, Lab
from tests.drivers.profiles import Profile, load_profiles

pytestmark = pytest.mark.lab


def line(line_id: int, interface: str, *prefixes: str) -> LineTarget:
    return LineTarget(line_id, interface, tuple(ip_network(p) for p in prefixes))


PROFILES: dict[str, Profile] = load_profiles()


# a platform's driver over another session layer (its `session` option) passes the same suite
SESSION_LAYERS = {
    "cisco_ios over asyncssh": ("cisco_ios", "asyncssh"),
    "juniper_junos over asyncssh": ("juniper_junos", "asyncssh"),
}


@pytest.fixture(params=[*sorted(DRIVERS), *SESSION_LAYERS])
def profile(request: pytest.FixtureRequest) -> Profile:
    platform, layer = SESSION_LAYERS.get(request.param, (request.param, None))
    if platform not in PROFILES:
        pytest.fail(f"registered platform {platform!r} has no contract profile")
    chosen = PROFILES[platform]
    if layer is not None:
        extra = {**chosen.credentials_extra, SESSION_OPTION: layer}
        chosen = dataclasses.replace(chosen, credentials_extra=extra)
    reason = chosen.skips.get(request.node.originalname)
    if reason:
        pytest.skip(f"{platform}: {reason}")
    return chosen


@dataclass
class Rig:
    """One running lab and how to reach its routers."""

    lab: Lab
    profile: Profile

    def driver(self, name: str = "R1", timeout: float = 5.0, **changes: str) -> Driver:
        spec = next(s for s in self.lab.specs if s.name == name)
        fields: dict[str, Any] = {
            "host": self.lab.host,
            "port": spec.port,
            "username": spec.username,
            "password": spec.password,
            "secret": spec.secret,
            "timeout": timeout,
            "extra": dict(self.profile.credentials_extra),
            "host_key": spec.host_key,  # the twin's pinned SSH host key (None without SSH)
            **changes,
        }
        return driver_for(self.profile.platform)(name, Credentials(**fields))

    def apply(self, batch: Batch, name: str = "R1", **changes: Any) -> BatchResult:
        with self.driver(name, **changes) as driver:
            return driver.apply(batch)

    def line(self, line_id: int, interface: str, *prefixes: str) -> LineTarget:
        return line(line_id, interface, *prefixes)

    def config(self, name: str = "R1") -> str:
        return self.profile.running_config(self.lab, name)

    def operator(self, name: str, lines: tuple[str, ...]) -> None:
        """Change the device by hand, as a person would (a plain netmiko session for CLIs)."""
        self.profile.operator(self.lab, name, lines)

    # Line 42 is the VENDORS.md example; 43 is IPv4 only, 44 IPv6 only with a host address.
    @property
    def l42(self) -> LineTarget:
        return line(42, self.profile.venue_ports[0], "198.18.1.0/24", "2001:db8:1::/48")

    @property
    def l43(self) -> LineTarget:
        return line(43, self.profile.venue_ports[1], "198.18.2.0/24")

    @property
    def l44(self) -> LineTarget:
        return line(44, self.profile.venue_ports[2], "2001:db8:4::7/128")


class _NoSessions:
    """What a subscriber rig answers for the lab's session counter: there are no sessions."""

    def sessions_opened(self, name: str) -> None:
        return None


class SubscriberRig:
    """The suite's rig for `radius_nas`: a real FreeRADIUS and one BNG twin (the NAS R1), lines
    42-44 the subscribers sub42-sub44, two of them online when the rig starts. Its
    "configuration" is radcheck, one `username attribute op value` per row in id order."""

    DAE_SECRET = "contract-dae-secret"
    RADIUS_SECRET = "contract-radius-secret"

    def __init__(self, profile: Profile, refuse_connections: bool) -> None:
        from lab.bng import BngTwin, Session
        from lab.freeradius import RadiusServer, unavailable_reason

        reason = unavailable_reason()
        if reason:
            pytest.skip(f"radius_nas: {reason}")
        self.profile = profile
        self.lab = _NoSessions()
        self.server = RadiusServer({"127.0.0.21": self.RADIUS_SECRET}).start()
        self.bng = BngTwin(
            "R1", "127.0.0.21", (self.server.host, self.server.auth_port, self.server.acct_port),
            self.RADIUS_SECRET, self.DAE_SECRET, "100.64.0.0/24", clock=_now,
        )  # fmt: skip
        self.bng.start()
        # a database that is not there: the NAS's RADIUS database cannot be reached
        self.db_url = (
            f"sqlite:///{self.server.db_path}.missing" if refuse_connections else self.server.db_url
        )
        for user in profile.venue_ports[:2]:  # online before any cut: a cut disconnects them
            self.server.add_subscriber(user, f"pw-{user}")
            assert isinstance(self.bng.dial(user, f"pw-{user}"), Session), user

    def close(self) -> None:
        self.bng.close()
        self.server.close()

    def line(self, line_id: int, username: str, *prefixes: str) -> LineTarget:
        del prefixes  # a subscriber has none
        return LineTarget(line_id, "", (), username=username, nas=("R1",))

    def driver(self, name: str = "R1", timeout: float = 5.0, **changes: Any) -> Driver:
        fields: dict[str, Any] = {
            "host": self.bng.address,
            "port": self.bng.dae_port,
            "username": "curfew",
            "password": self.DAE_SECRET,
            "timeout": timeout,
            "extra": {"radius_db": self.db_url, "dae_timeout": "0.5", "dae_tries": "2"},
            **changes,
        }
        driver = driver_for(self.profile.platform)(name, Credentials(**fields))
        # as the reconciler does before a read: the lines to look for (rows name usernames)
        driver.learn((self.l42, self.l43, self.l44))
        return driver

    def apply(self, batch: Batch, name: str = "R1", **changes: Any) -> BatchResult:
        with self.driver(name, **changes) as driver:
            return driver.apply(batch)

    def config(self, name: str = "R1") -> str:
        with self.server.connect() as db:
            rows = db.execute(
                "SELECT username, attribute, op, value FROM radcheck ORDER BY id"
            ).fetchall()
        return "".join(f"{u} {a} {o} {v}\n" for u, a, o, v in rows)

    def operator(self, name: str, lines: tuple[str, ...]) -> None:
        """A NOC engineer editing radcheck by hand: a row to add, or `delete <row>`."""
        with self.server.connect() as db:
            for entry in lines:
                remove = entry.startswith("delete ")
                username, attribute, op, value = entry.removeprefix("delete ").split(" ", 3)
                if remove:
                    db.execute(
                        "DELETE FROM radcheck WHERE username = ? AND attribute = ? AND op = ? "
                        "AND value = ?",
                        (username, attribute, op, value),
                    )
                else:
                    db.execute(
                        "INSERT INTO radcheck (username, attribute, op, value) VALUES (?,?,?,?)",
                        (username, attribute, op, value),
                    )

    @property
    def l42(self) -> LineTarget:
        return self.line(42, self.profile.venue_ports[0])

    @property
    def l43(self) -> LineTarget:
        return self.line(43, self.profile.venue_ports[1])

    @property
    def l44(self) -> LineTarget:
        return self.line(44, self.profile.venue_ports[2])


def _now() -> datetime:
    return datetime(2026, 11, 25, tzinfo=UTC)  # the BNG's accounting instants: any will do


@pytest.fixture
def start(profile: Profile) -> Iterator[Callable[..., Rig]]:
    """Start a lab: `start(interfaces=..., config=..., **faults)` → Rig with router R1."""
    labs: list[Lab] = []
    if profile.platform == "radius_nas":
        rigs: list[SubscriberRig] = []

        def subscribers(
            interfaces: tuple[str, ...] | None = None, refuse_connections: bool = False
        ) -> Rig:
            del interfaces  # subscribers are rows, not ports: any username is there to cut
            rig = SubscriberRig(profile, refuse_connections)
            rigs.append(rig)
            return rig  # type: ignore[return-value]  # the same face as Rig

        subscribers.profile = profile  # type: ignore[attr-defined]
        yield subscribers
        for rig in rigs:
            rig.close()
        return

    def starter(
        interfaces: tuple[str, ...] | None = None, config: tuple[str, ...] = (), **faults: Any
    ) -> Rig:
        interfaces = profile.venue_ports if interfaces is None else interfaces
        spec = DeviceSpec(
            "R1",
            platform=profile.platform,
            interfaces=(profile.uplink, *interfaces),
            config=config,
            **faults,
        )
        lab = Lab([spec]).start()
        labs.append(lab)
        return Rig(lab, profile)

    starter.profile = profile  # type: ignore[attr-defined]
    yield starter
    for lab in labs:
        lab.stop()


def outcome(result: BatchResult, line_id: int) -> LineOutcome:
    return next(o for o in result.outcomes if o.line_id == line_id)


def added_and_removed(before: str, after: str) -> tuple[Counter[str], Counter[str]]:
    old, new = Counter(before.splitlines()), Counter(after.splitlines())
    return new - old, old - new


def block(config: str, header: str) -> list[str]:
    """The lines of one top-level block (`interface X`, `ip access-list …`), header excluded."""
    lines = config.splitlines()
    start = lines.index(header) + 1
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith(" "))
    return lines[start:end]


# ------------------------------------------------------------------------------ cut & restore


def test_cut_is_verified_and_adds_exactly_the_vendor_objects(start: Callable[..., Rig]) -> None:
    rig = start()
    rig.operator("R1", rig.profile.other_config)
    before = rig.config()

    result = rig.apply(Batch(cuts=(rig.l42,)))

    assert result.ok, result
    found = outcome(result, 42)
    assert (found.action, found.state_after, found.verified) == (Action.CUT, LineState.CUT, True)
    assert found.commands and set(found.commands) <= set(result.commands)
    added, removed = added_and_removed(before, rig.config())
    assert removed == Counter()
    assert added == Counter(rig.profile.cut_of_l42)


def test_restore_returns_the_running_config_byte_for_byte(start: Callable[..., Rig]) -> None:
    rig = start()
    rig.operator("R1", rig.profile.other_config)
    before = rig.config()
    assert rig.apply(Batch(cuts=(rig.l42, rig.l43, rig.l44))).ok

    result = rig.apply(Batch(restores=(rig.l42, rig.l43, rig.l44)))

    assert result.ok, result
    assert all(o.state_after is LineState.OPEN and o.verified for o in result.outcomes)
    assert rig.config() == before


def test_cut_applied_twice_leaves_one_acl_and_one_binding_per_direction(
    start: Callable[..., Rig],
) -> None:
    rig = start()
    first = rig.apply(Batch(cuts=(rig.l42, rig.l43)))
    config = rig.config()

    again = rig.apply(Batch(cuts=(rig.l42, rig.l43)))

    assert first.ok and again.ok
    assert again.commands == ()
    assert all(o.commands == () and o.state_after is LineState.CUT for o in again.outcomes)
    assert rig.config() == config
    added, _ = added_and_removed("", config)
    named = [entry for entry in rig.profile.cut_of_l42 if rig.profile.owned_marker in entry]
    assert named and all(added[entry] == 1 for entry in named)


def test_restore_of_a_line_never_cut_sends_nothing(start: Callable[..., Rig]) -> None:
    rig = start()
    before = rig.config()

    result = rig.apply(Batch(restores=(rig.l42,)))

    assert result.ok and result.commands == ()
    assert outcome(result, 42).state_after is LineState.OPEN
    assert rig.config() == before


def test_a_change_is_announced_before_its_first_command_and_not_when_it_sends_nothing(
    start: Callable[..., Rig],
) -> None:
    """`announced`: the controller's intents are written before the first command that may
    change the device; a driver that `WritesAhead` skips them when it finds nothing to send."""
    rig = start()
    before = rig.config()
    told: list[str] = []  # the device's configuration each time the change was announced

    def before_send() -> None:
        told.append(rig.config())

    def refuse() -> None:
        raise RuntimeError("the change log cannot be written")

    with rig.driver() as driver:
        with pytest.raises(RuntimeError, match="cannot be written"), announced(driver, refuse):
            driver.apply(Batch(cuts=(rig.l42,)))
        refused = rig.config()
        with announced(driver, before_send):
            cut = driver.apply(Batch(cuts=(rig.l42,)))
        with announced(driver, before_send):
            again = driver.apply(Batch(cuts=(rig.l42,)))
        with announced(driver, before_send):
            untouched = driver.apply(Batch(restores=(rig.l43,)))
        writes_ahead = isinstance(driver, WritesAhead)

    assert refused == before, "a change whose intents fail sends nothing"
    assert cut.ok and cut.commands and again.ok and again.commands == () and untouched.ok
    assert told[0] == before, "announced before the first command"
    # where the driver cannot tell, the change is announced before it starts, every time
    assert len(told) == (1 if writes_ahead else 3)


def test_single_session_reads_and_applies(start: Callable[..., Rig]) -> None:
    rig = start()
    with rig.driver() as driver:
        assert driver.read() == {}
        assert driver.apply(Batch(cuts=(rig.l43,))).ok
        owned = driver.read()
        assert driver.apply(Batch(restores=(rig.l43,))).ok
    assert owned[43].state_for(rig.l43) is LineState.CUT


# ------------------------------------------------------------------------------ read & drift


def test_read_finds_owned_lines_only(start: Callable[..., Rig]) -> None:
    rig = start()
    rig.operator("R1", rig.profile.foreign_acl(rig.profile.uplink))
    assert rig.apply(Batch(cuts=(rig.l42, rig.l43, rig.l44))).ok

    with rig.driver() as fresh:
        owned = fresh.read()

    assert set(owned) == {42, 43, 44}
    assert all(owned[t.line_id].state_for(t) is LineState.CUT for t in (rig.l42, rig.l43, rig.l44))
    assert owned[42].bindings == {rig.profile.venue_ports[0]}
    assert owned[44].prefixes == {ip_network("2001:db8:4::7/128")}


def test_drift_is_seen_and_the_next_apply_repairs_it(start: Callable[..., Rig]) -> None:
    rig = start()
    assert rig.apply(Batch(cuts=(rig.l42,))).ok
    cut_config = rig.config()

    rig.operator("R1", rig.profile.delete_l42_acl)
    with rig.driver() as driver:
        drifted = driver.read()
    repaired = rig.apply(Batch(cuts=(rig.l42,)))

    assert observed_state(drifted, rig.l42) is not LineState.CUT
    assert repaired.ok, repaired
    assert outcome(repaired, 42).commands, "a drifted line is rewritten"
    assert rig.config() == cut_config


# ------------------------------------------------------------------------------ foreign config


def test_foreign_acl_is_never_replaced_and_other_config_is_untouched(
    start: Callable[..., Rig],
) -> None:
    rig = start()
    port = rig.profile.venue_ports[0]
    rig.operator("R1", rig.profile.other_config + rig.profile.foreign_acl(port))
    before = rig.config()

    result = rig.apply(Batch(cuts=(rig.l42, rig.l43)))

    refused = outcome(result, 42)
    assert refused.commands == ()
    assert (refused.state_after, refused.verified) == (LineState.OPEN, False)
    assert refused.error is not None and refused.error.startswith("Rejected: ")
    assert port in refused.error and "MGMT-ACCESS" in refused.error
    assert not any(port in c or "MGMT" in c for c in result.commands)
    assert outcome(result, 43).verified
    assert result.error is None and not result.ok

    assert rig.apply(Batch(restores=(rig.l42, rig.l43))).ok
    assert rig.config() == before


# ------------------------------------------------------------------------------ scale


def test_two_hundred_lines_in_one_session(start: Callable[..., Rig]) -> None:
    ports = tuple(start.profile.port_name(n) for n in range(200))
    rig = start(interfaces=ports)
    targets = tuple(
        rig.line(1000 + n, port, f"10.{n // 256}.{n % 256}.0/24", f"2001:db8:{n:x}::/48")
        for n, port in enumerate(ports)
    )
    before = rig.config()
    opened = rig.lab.sessions_opened("R1")

    started = time.perf_counter()
    cut = rig.apply(Batch(cuts=targets), timeout=20)
    cut_seconds = time.perf_counter() - started
    restored = rig.apply(Batch(restores=targets), timeout=20)

    assert cut.ok and len(cut.outcomes) == 200, cut.error
    assert all(o.state_after is LineState.CUT for o in cut.outcomes)
    assert restored.ok and rig.config() == before
    if opened is not None:  # CLI twins count their SSH sessions; eAPI and SNMP have none
        assert rig.lab.sessions_opened("R1") - opened == 2, "one session per apply"
    print(f"{rig.profile.platform}: 200 lines cut in one session in {cut_seconds:.2f} s")


# ------------------------------------------------------------------------------ faults


def assert_unknown(result: BatchResult, error: type[Exception]) -> None:
    assert isinstance(result.error, error), result.error
    assert result.outcomes and all(
        o.state_after is LineState.UNKNOWN and not o.verified and o.error for o in result.outcomes
    )


def test_refused_connection_is_unreachable_and_retryable(start: Callable[..., Rig]) -> None:
    rig = start(refuse_connections=True)

    with pytest.raises(Unreachable), rig.driver():
        pass
    result = rig.driver().apply(Batch(cuts=(rig.l42,), restores=(rig.l43,)))

    assert_unknown(result, Unreachable)
    assert result.error is not None and result.error.retryable
    assert [o.line_id for o in result.outcomes] == [43, 42]


def test_bad_password_is_auth_failed_and_not_retryable(start: Callable[..., Rig]) -> None:
    rig = start()

    with pytest.raises(AuthFailed), rig.driver(password="wrong"):
        pass
    result = rig.driver(password="wrong").apply(Batch(cuts=(rig.l42,)))

    assert_unknown(result, AuthFailed)
    assert result.error is not None and not result.error.retryable


def test_device_refusing_every_login_is_auth_failed(start: Callable[..., Rig]) -> None:
    rig = start(auth_fail=True)
    assert_unknown(rig.driver().apply(Batch(cuts=(rig.l42,))), AuthFailed)


def test_wrong_enable_secret_is_auth_failed(start: Callable[..., Rig]) -> None:
    rig = start()
    assert_unknown(rig.driver(secret="wrong").apply(Batch(cuts=(rig.l42,))), AuthFailed)


def test_rejected_command_is_reported_and_the_device_still_read_back(
    start: Callable[..., Rig],
) -> None:
    profile = start.profile
    rig = start(reject=(profile.reject_pattern,))

    result = rig.apply(Batch(cuts=(rig.l42, rig.l43)))

    assert isinstance(result.error, Rejected) and not result.error.retryable
    assert profile.rejected_command in str(result.error)
    assert profile.invalid_marker in result.device_output
    failed = outcome(result, 42)
    assert not failed.verified and failed.error is not None
    assert failed.error.startswith("Rejected: ") and profile.rejected_command in failed.error
    assert failed.state_after is profile.rejected_line_state, "read back, not assumed"
    assert outcome(result, 43).verified and outcome(result, 43).state_after is LineState.CUT


@pytest.mark.parametrize("moment", ["during-login", "mid-push"])
def test_session_dropped_is_unreachable_and_retryable(
    start: Callable[..., Rig], moment: str
) -> None:
    drop_after = start.profile.drop_points[moment]
    rig = start(drop_after=drop_after)

    result = rig.driver(timeout=20).apply(Batch(cuts=(rig.l42,)))

    assert_unknown(result, Unreachable)
    assert result.error is not None and result.error.retryable
    # a read waited out until its 20 s timeout would name a missing pattern or prompt instead
    assert "closed" in str(result.error), f"noticed as closed, not waited out: {result.error}"
    if moment == "mid-push":
        assert result.device_output.startswith(rig.profile.config_enter), "the partial answer"


@pytest.mark.parametrize("moment", ["during-login", "mid-push"])
def test_session_hung_up_on_a_command_in_flight_is_noticed(
    start: Callable[..., Rig], moment: str
) -> None:
    """The device closes the session when a command arrives, before answering it: the driver
    is then inside a read (netmiko's own, while logging in), which must end on the close."""
    rig = start(hang_up_on=start.profile.drop_points[moment])

    result = rig.driver(timeout=20).apply(Batch(cuts=(rig.l42,)))

    assert_unknown(result, Unreachable)
    assert result.error is not None and result.error.retryable
    assert "closed" in str(result.error), f"noticed as closed, not waited out: {result.error}"


def test_device_that_stops_answering_is_a_timeout(start: Callable[..., Rig]) -> None:
    rig = start()
    with rig.driver(timeout=1) as driver:
        rig.lab.set_fault("R1", latency_ms=3000)
        result = driver.apply(Batch(cuts=(rig.l42,)))

    assert_unknown(result, Timeout)
    assert result.error is not None and result.error.retryable


def test_invalid_identifier_refuses_that_line_and_sends_nothing_for_it(
    start: Callable[..., Rig],
) -> None:
    rig = start()
    bad = rig.line(45, rig.profile.venue_ports[2] + " ; reload", "198.18.5.0/24")

    result = rig.apply(Batch(cuts=(bad, rig.l43)))

    refused = outcome(result, 45)
    assert refused.commands == () and not refused.verified
    assert refused.error is not None and refused.error.startswith(InvalidIdentifier.__name__)
    assert not any("reload" in c for c in result.commands)
    assert outcome(result, 43).verified


def test_running_config_is_never_saved(start: Callable[..., Rig]) -> None:
    rig = start()
    saved = rig.profile.saved_config(rig.lab, "R1")
    assert rig.apply(Batch(cuts=(rig.l42,))).ok
    assert rig.profile.saved_config(rig.lab, "R1") == saved


# ------------------------------------------------------------------------------ staging


def staging(rig: Rig) -> Any:
    """A driver offering `Staging`; the case is skipped, with the profile's reason, where the
    platform cannot stage without effect."""
    if rig.profile.no_staging:
        pytest.skip(f"{rig.profile.platform}: {rig.profile.no_staging}")
    driver = rig.driver()
    assert isinstance(driver, Staging), f"{rig.profile.platform} gives no reason not to stage"
    return driver


def staged_line(result: StageResult, line_id: int) -> StagedLine:
    return next(line for line in result.lines if line.line_id == line_id)


def test_a_platform_stages_or_its_profile_says_why_not(profile: Profile) -> None:
    driver = driver_for(profile.platform)("R1", Credentials("192.0.2.1", 22, "u", "p"))
    assert isinstance(driver, Staging) == (not profile.no_staging)


def test_staged_bodies_have_no_effect_and_staging_twice_sends_nothing(
    start: Callable[..., Rig],
) -> None:
    rig = start()
    rig.operator("R1", rig.profile.other_config)
    before = rig.config()

    with staging(rig) as driver:
        staged = driver.stage(Batch(cuts=(rig.l42,)))
        owned = driver.read()
        again = driver.stage(Batch(cuts=(rig.l42,)))

    assert staged.ok, staged
    assert staged_line(staged, 42).commands and staged_line(staged, 42).done
    assert observed_state(owned, rig.l42) is LineState.OPEN, "staged bodies filter nothing"
    assert owned[42].bindings == frozenset() and owned[42].staged_for(rig.l42)
    added, removed = added_and_removed(before, rig.config())
    assert removed == Counter()
    bindings = Counter(rig.profile.cut_of_l42) - added
    assert added and not added - Counter(rig.profile.cut_of_l42), "only the cut's own bodies"
    assert bindings and not any(line in rig.config().splitlines() for line in bindings)
    assert again.ok and again.commands == () and staged_line(again, 42).done


def test_bind_after_stage_sends_only_the_bindings_and_verifies(
    start: Callable[..., Rig],
) -> None:
    rig = start()
    rig.operator("R1", rig.profile.other_config)
    before = rig.config()

    with staging(rig) as driver:
        staged = driver.stage(Batch(cuts=(rig.l42, rig.l43)))
        bound = driver.bind(Batch(cuts=(rig.l42, rig.l43)))
        whole = driver.render(Batch(cuts=(rig.l42,)), {})
        restaged = driver.stage(Batch(cuts=(rig.l42,)))

    assert staged.ok and bound.ok, bound
    assert all(o.state_after is LineState.CUT and o.verified for o in bound.outcomes)
    # the stage wrote the bodies, the bind only what binds them: together, one cut
    assert [*staged_line(staged, 42).commands, *outcome(bound, 42).commands] == whole
    staged_and_bound = rig.config()
    assert Counter(rig.profile.cut_of_l42) <= added_and_removed(before, staged_and_bound)[0]
    assert restaged.ok and restaged.commands == (), "a cut line is not staged again"
    # the same configuration as one apply: restored byte for byte, cut again the same
    assert rig.apply(Batch(restores=(rig.l42, rig.l43))).ok and rig.config() == before
    assert rig.apply(Batch(cuts=(rig.l42, rig.l43))).ok and rig.config() == staged_and_bound


def test_discard_staged_removes_exactly_the_unused_bodies_never_a_bound_one(
    start: Callable[..., Rig],
) -> None:
    rig = start()
    rig.operator("R1", rig.profile.other_config + rig.profile.foreign_acl(rig.profile.uplink))
    assert rig.apply(Batch(cuts=(rig.l43,))).ok
    cut_43 = rig.config()

    with staging(rig) as driver:
        staged = driver.stage(Batch(cuts=(rig.l42, rig.l43, rig.l44)))
        discarded = driver.discard_staged([42, 43, 44, 45])
        owned = driver.read()

    assert staged.ok and staged_line(staged, 43).commands == (), "a cut line is left alone"
    assert staged_line(discarded, 42).done and staged_line(discarded, 44).done
    assert staged_line(discarded, 42).commands and staged_line(discarded, 44).commands
    assert staged_line(discarded, 45) == StagedLine(45, (), True), "nothing there, nothing sent"
    kept = staged_line(discarded, 43)
    assert kept.commands == () and not kept.done and kept.error and "bound" in kept.error
    assert rig.config() == cut_43, "the foreign ACL, the cut line and the rest untouched"
    assert set(owned) == {43} and owned[43].state_for(rig.l43) is LineState.CUT


def test_stage_refuses_a_cut_a_foreign_filter_would_block(start: Callable[..., Rig]) -> None:
    rig = start()
    rig.operator("R1", rig.profile.foreign_acl(rig.profile.venue_ports[0]))
    before = rig.config()

    with staging(rig) as driver:
        staged = driver.stage(Batch(cuts=(rig.l42, rig.l43)))

    refused = staged_line(staged, 42)
    assert refused.commands == () and not refused.done
    assert refused.error is not None and refused.error.startswith("Rejected: ")
    assert "MGMT-ACCESS" in refused.error
    assert staged_line(staged, 43).done
    config = rig.config().splitlines()
    assert not any("CURFEW-L42" in line or "CURFEW6-L42" in line for line in config)
    assert rig.config() != before, "line 43 staged"


def test_a_restore_unbinds_before_it_deletes_the_bodies(start: Callable[..., Rig]) -> None:
    rig = start()
    with staging(rig) as driver:
        assert driver.stage(Batch(cuts=(rig.l42,))).ok
        # what deleting line 42's bodies takes, on their own
        deletions = staged_line(driver.discard_staged([42]), 42).commands
        assert driver.apply(Batch(cuts=(rig.l42,))).ok
        restored = driver.apply(Batch(restores=(rig.l42,)))

    assert restored.ok and deletions
    line_commands = outcome(restored, 42).commands
    assert line_commands[-len(deletions) :] == deletions, "the bodies go last"
    unbinds = line_commands[: -len(deletions)]
    assert unbinds and not set(unbinds) & set(deletions)
    sent = list(restored.commands)
    assert max(sent.index(c) for c in unbinds) < min(sent.index(c) for c in deletions)


def test_a_bind_keeping_bodies_only_unbinds_and_a_discard_after_deletes_them(
    start: Callable[..., Rig],
) -> None:
    """The instant's restore takes only the unbinding: the bodies, bound nowhere, filter
    nothing, and the discard after the pass deletes them."""
    rig = start()
    rig.operator("R1", rig.profile.other_config)
    before = rig.config()
    with staging(rig) as driver:
        assert driver.apply(Batch(cuts=(rig.l42, rig.l43))).ok
        both_cut = rig.config()
        restored = driver.bind(Batch(restores=(rig.l42,)), keep_bodies=True)
        owned = driver.read()
        left = rig.config()
        discarded = driver.discard_staged(restored.released)

    assert restored.ok and outcome(restored, 42).state_after is LineState.OPEN, restored
    assert restored.released == (42,)
    assert owned[42].bindings == frozenset() and owned[42].staged_for(rig.l42), "bodies kept"
    assert observed_state(owned, rig.l43) is LineState.CUT
    added, removed = added_and_removed(both_cut, left)
    assert not added and removed, "the restore only removed lines"
    assert staged_line(discarded, 42).done and staged_line(discarded, 42).commands
    # with its bodies gone, line 42 is as if it had never been cut
    assert rig.apply(Batch(restores=(rig.l43,))).ok and rig.config() == before


# ------------------------------------------------------------------------------ device timing


def timed(rig: Rig) -> Any:
    """A driver offering `DeviceTimed`; the case is skipped, with the profile's reason, where
    the platform does not enforce a window on its own clock."""
    if rig.profile.no_device_timing:
        pytest.skip(f"{rig.profile.platform}: {rig.profile.no_device_timing}")
    driver = rig.driver()
    assert isinstance(driver, DeviceTimed), f"{rig.profile.platform} gives no reason not to"
    return driver


def tomorrow_night(reading: DeviceClock) -> tuple[datetime, datetime]:
    """A window [start, start + 8 h) starting on a whole hour more than a day ahead of the
    device's clock (in UTC), so that nothing armed for it can be in force during the case."""
    assert reading.time is not None, reading.problem
    now = reading.time.astimezone(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) + timedelta(days=1, hours=1)
    return start, start + timedelta(hours=8)


def test_a_platform_enforces_windows_on_its_clock_or_its_profile_says_why_not(
    profile: Profile,
) -> None:
    driver = driver_for(profile.platform)("R1", Credentials("192.0.2.1", 22, "u", "p"))
    assert isinstance(driver, DeviceTimed) == (not profile.no_device_timing)


def test_a_window_armed_ahead_filters_nothing_and_its_disarm_leaves_the_config_as_it_was(
    start: Callable[..., Rig],
) -> None:
    rig = start()
    rig.operator("R1", rig.profile.other_config)
    before = rig.config()
    with timed(rig) as driver:
        reading = driver.read_clock()
        begin, end = tomorrow_night(reading)
        armed = driver.arm([rig.l42], begin, end, reading.zone)
        owned = driver.read()
        disarmed = driver.disarm([42])
        again = driver.read()

    assert armed.ok and staged_line(armed, 42).done and armed.commands, armed
    assert observed_state(owned, rig.l42) is LineState.OPEN, "armed for tomorrow: open now"
    assert staged_line(disarmed, 42).done, disarmed
    assert 42 not in again
    assert rig.config() == before, "the disarm removes all the arming wrote, nothing else"


def test_a_restore_armed_ahead_leaves_the_line_cut_and_its_disarm_leaves_the_config_as_it_was(
    start: Callable[..., Rig],
) -> None:
    """Where the window's end is armed apart (RestoreTimed: Junos), once the cut is in force;
    elsewhere the arming of a window holds its end already (the case above)."""
    rig = start()
    with timed(rig) as driver:
        if not isinstance(driver, RestoreTimed):
            pytest.skip(f"{rig.profile.platform}: a window's arming holds its end")
        cut = driver.apply(Batch(cuts=(rig.l42,)))
        assert outcome(cut, 42).verified
        after_cut = rig.config()
        reading = driver.read_clock()
        _, end = tomorrow_night(reading)
        armed = driver.arm_restore([rig.l42], end, reading.zone)
        owned = driver.read()
        disarmed = driver.disarm_restore([42])

    assert armed.ok and staged_line(armed, 42).done and armed.commands, armed
    assert observed_state(owned, rig.l42) is LineState.CUT, "the restore is armed: cut now"
    assert staged_line(disarmed, 42).done, disarmed
    assert rig.config() == after_cut, "the cancelled restore changed nothing"

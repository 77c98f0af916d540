"""The CLI session layer's hot path, against the lab's twins over real SSH: a read answered word
for word as the last one is not parsed again, and a changed answer always is; netmiko's pattern
reads (log-in, enable, log-out) wait on the channel and keep what follows the pattern."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from ipaddress import ip_network

import pytest
from netmiko.exceptions import ReadTimeout

from drivers import cli
from drivers.base import Batch, Credentials, InvalidIdentifier, LineTarget, OwnedLine, Unreachable
from drivers.cisco_ios import CiscoIosDriver
from drivers.h3c_comware import H3cComwareDriver
from lab.topology import Lab, city

pytestmark = pytest.mark.lab

# the CLI platforms whose read and push are CliDriver's own
PLATFORMS = {"cisco_ios": CiscoIosDriver, "h3c_comware": H3cComwareDriver}
# a filter of the carrier's own, bound on a venue interface after the stage
FOREIGN = {
    "cisco_ios": lambda interface: [
        "ip access-list extended NOC-ONLY",
        " permit ip any any",
        f"interface {interface}",
        " ip access-group NOC-ONLY in",
    ],
    "h3c_comware": lambda interface: [
        "acl advanced name NOC-ONLY",
        " rule 5 permit ip",
        f"interface {interface}",
        " packet-filter name NOC-ONLY inbound",
    ],
}


@pytest.fixture(params=sorted(PLATFORMS))
def router(request: pytest.FixtureRequest) -> Iterator[tuple[Lab, str, tuple[LineTarget, ...]]]:
    platform = request.param
    specs, inventory = city(1, 2, platforms=(platform,))
    targets = tuple(
        LineTarget(n, line["interface"], tuple(ip_network(p) for p in line["prefixes"]))
        for n, line in enumerate(inventory["lines"], start=1)
    )
    with Lab(specs) as lab:
        yield lab, platform, targets


def counting_driver(lab: Lab, platform: str) -> tuple[CiscoIosDriver, list[int]]:
    """The platform's driver, counting the answers it parses."""
    parsed: list[int] = []

    class Counting(PLATFORMS[platform]):  # type: ignore[misc,valid-type]
        def _parse(self, answers: Sequence[str]) -> Mapping[int, OwnedLine]:
            parsed.append(1)
            return super()._parse(answers)

    return Counting("R1", _credentials(lab, lab.specs[0].name)), parsed


def test_a_bind_after_its_stage_parses_the_read_back_only(router) -> None:
    lab, platform, targets = router
    driver, parsed = counting_driver(lab, platform)
    with driver:
        assert driver.stage(Batch(cuts=targets)).ok
        parsed.clear()
        result = driver.bind(Batch(cuts=targets))
        # the read that starts the bind answered what the stage's read-back did: parsed once
        assert parsed == [1]
    assert result.ok and all(o.verified for o in result.outcomes)


def test_a_router_changed_between_stage_and_bind_is_read_again(router) -> None:
    lab, platform, targets = router
    driver, parsed = counting_driver(lab, platform)
    with driver:
        assert driver.stage(Batch(cuts=targets)).ok
        lab.router("R1").configure(FOREIGN[platform](targets[0].interface))
        parsed.clear()
        result = driver.bind(Batch(cuts=targets))
        assert len(parsed) == 2  # the changed read, then the read-back
    outcomes = {o.line_id: o for o in result.outcomes}
    # the carrier's filter now on the first venue interface is seen, and not replaced
    assert not outcomes[1].verified
    assert "NOC-ONLY" in (outcomes[1].error or "") and "not replacing" in (outcomes[1].error or "")
    assert outcomes[2].verified


def test_pattern_reads_return_up_to_the_pattern_and_keep_the_rest(router) -> None:
    lab, platform, _ = router
    if platform != "cisco_ios":
        pytest.skip("one platform is enough for netmiko's reads")
    driver, _ = counting_driver(lab, platform)
    with driver:
        connection = driver._cli.connection
        prompt = connection.base_prompt
        connection.write_channel("show version\nshow ip interface brief\n")
        first = connection.read_until_pattern(pattern=rf"{prompt}#", read_timeout=10)
        assert "show version" in first and first.endswith(f"{prompt}#")
        assert "show ip interface brief" not in first
        # what came after the pattern is the next read's start
        second = connection.read_until_pattern(pattern=rf"{prompt}#", read_timeout=10)
        assert second.startswith("show ip interface brief")
        assert targets_interface_listed(second)
        with pytest.raises(ReadTimeout):
            connection.read_until_pattern(pattern="never printed", read_timeout=0.2)


def targets_interface_listed(text: str) -> bool:
    return "GigabitEthernet0/1" in text and "GigabitEthernet0/2" in text


def test_a_session_whose_socket_closed_during_log_in_is_left_to_its_next_exchange(router):
    lab, platform, _ = router
    if platform != "cisco_ios":
        pytest.skip("one platform is enough for the transport")
    driver, _ = counting_driver(lab, platform)
    with driver:
        connection = driver._cli.connection
        transport = connection.remote_conn.get_transport()
        assert transport.sock.gettimeout() == cli.TRANSPORT_WAKE_SECONDS
        transport.sock.close()  # as when the device hangs up as the log-in ends
        cli.quiet_transport(connection)  # no error: the next exchange finds the session gone
        with pytest.raises(Unreachable):
            driver.read()


def test_a_device_s_session_option_picks_its_layer_and_anything_else_is_refused() -> None:
    def made(**extra: str) -> object:
        credentials = Credentials("192.0.2.1", 22, "curfew", "unused", extra=extra)
        return type(CiscoIosDriver("R1", credentials)._cli)

    assert made() is cli.CliSession
    assert made(session="netmiko") is cli.CliSession
    assert made(session="asyncssh").__name__ == "AsyncCliSession"
    with pytest.raises(InvalidIdentifier, match="session must be one of netmiko, asyncssh"):
        made(session="telnet")
    # a layer whose library is not installed says how to install it
    with pytest.raises(InvalidIdentifier, match=r"pip install 'curfew\[no_such_library\]'"):
        cli.session_class("no_such_library:Session", "R1")


def test_an_asyncssh_session_asks_for_aes_gcm_first() -> None:
    """The twin offers what IOS XE offers, ChaCha20-Poly1305 first; the controller's sessions
    over asyncssh ask for AES-GCM first (about 3 µs a packet against 23 µs), so that is what
    is spoken."""
    specs, _ = city(1, 1, platforms=("cisco_ios",))
    with Lab(specs) as lab:
        driver = _driver(lab, lab.specs[0].name, session="asyncssh")
        with driver:
            assert driver.read() == {}
            session = driver._cli.connection
            assert session is not None
            ciphers = {
                session.connection.get_extra_info(side) for side in ("send_cipher", "recv_cipher")
            }
        assert ciphers == {"aes128-gcm@openssh.com"}


def _credentials(lab: Lab, name: str, **extra: str) -> Credentials:
    spec = next(s for s in lab.specs if s.name == name)
    return Credentials(
        lab.host, spec.port, spec.username, spec.password, spec.secret, timeout=10,
        host_key=spec.host_key, extra=extra,
    )  # fmt: skip


def _driver(lab: Lab, name: str, **extra: str) -> CiscoIosDriver:
    return CiscoIosDriver(name, _credentials(lab, name, **extra))


def _until(condition: Callable[[], bool], limit: float) -> bool:
    """Whether `condition` holds within `limit` seconds (looked at every 0.1 s)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.parametrize("layer", ["netmiko", "asyncssh"])
def test_an_idle_session_sends_keepalives_and_the_device_option_sets_or_stops_them(layer) -> None:
    """A session held open (a prepare's, until the instant) sends a keepalive after each
    second of silence with `keepalive: "1"`; with `"0"` none."""
    specs, _ = city(2, 1, platforms=("cisco_ios",))
    with Lab(specs) as lab:
        kept, quiet = (s.name for s in lab.specs)
        with (
            _driver(lab, kept, session=layer, keepalive="1") as a,
            _driver(lab, quiet, session=layer, keepalive="0") as b,
        ):
            assert a.read() == {} and b.read() == {}
            assert _until(lambda: (lab.keepalives(kept) or 0) >= 3, 15), lab.keepalives(kept)
            assert lab.keepalives(quiet) == 0
            assert a.read() == {}  # the session is as good as before


def test_the_default_keepalive_and_a_bad_one_is_refused() -> None:
    def made(**extra: str) -> cli.CliSession:
        credentials = Credentials("192.0.2.1", 22, "curfew", "unused", extra=extra)
        return CiscoIosDriver("R1", credentials)._cli

    assert made().keepalive == cli.KEEPALIVE_SECONDS == 15
    assert made(keepalive="0").keepalive == 0
    for bad in ("-1", "1.5", "3601", "soon"):
        with pytest.raises(ValueError, match="keepalive must be 0..3600 seconds"):
            made(keepalive=bad)


def test_an_asyncssh_session_to_a_router_that_stopped_answering_is_dropped_before_it_is_used():
    """A router whose SSH process hangs while TCP stays up answers no keepalive: after three
    unanswered the session is dropped, so the pass at the instant finds it dead and pushes in
    a new session at once, rather than waiting out its timeout on the first command."""
    specs, _ = city(1, 1, platforms=("cisco_ios",))
    with Lab(specs) as lab:
        name = lab.specs[0].name
        driver = _driver(lab, name, session="asyncssh", keepalive="1")
        with driver:
            assert driver.read() == {}
            assert driver._cli.alive()
            lab.set_fault(name, mute=True)
            started = time.monotonic()
            # keepalives at 1, 2, 3 s go unanswered; the fourth second drops it
            assert _until(lambda: not driver._cli.alive(), 15)
            assert 3 <= time.monotonic() - started < 10
            # the device took the first up (the others queue behind it, unanswered)
            assert lab.keepalives(name) == 1
            lab.set_fault(name, mute=False)
            with pytest.raises(Unreachable):
                driver.read()  # at once, not after the 10 s timeout


@pytest.mark.parametrize(
    ("printed", "shell"),
    [
        ("--- JUNOS 23.4R1 built 2026-01-01\nroot@R1:~ # ", True),
        ("root@R1:RE:0% ", True),
        ("%", True),
        ("$ ", True),
        ("--- JUNOS 23.4R1\ncurfew@R1> ", False),
        ("R1#", False),
        ("Disk 100%\ncurfew@R1> ", False),  # a banner's line, then the CLI's prompt
    ],
)
def test_a_junos_log_in_that_starts_a_shell_is_told_from_one_that_starts_the_cli(
    printed: str, shell: bool
) -> None:
    """Over asyncssh a Junos log-in into a Unix shell (root's) is refused, not driven: the
    shell's prompt is what tells it (drivers/async_cli.py)."""
    from drivers.async_cli import _SHELL_END

    assert (_SHELL_END.search(printed) is not None) is shell


def test_a_junos_account_whose_log_in_starts_a_shell_is_refused_by_the_driver() -> None:
    """Through the Junos driver over asyncssh, against a twin whose account logs in to a Unix
    shell (the lab's `shell_login` fault): the open is refused as a failed log-in naming the
    shell, and the apply's outcome is that refusal, not retried. The same account without the
    fault opens and reads."""
    from drivers.base import AuthFailed, Batch
    from drivers.juniper_junos import JuniperJunosDriver

    specs, inventory = city(1, 1, platforms=("juniper_junos",))
    line = inventory["lines"][0]
    target = LineTarget(1, line["interface"], tuple(ip_network(p) for p in line["prefixes"]))
    with Lab(specs) as lab:
        spec = lab.specs[0]
        credentials = _credentials(lab, spec.name, session="asyncssh")
        lab.set_fault(spec.name, shell_login=True)
        with pytest.raises(AuthFailed, match="started a shell, not the Junos CLI"):
            JuniperJunosDriver(spec.name, credentials).open()
        result = JuniperJunosDriver(spec.name, credentials).apply(Batch(cuts=(target,)))
        assert isinstance(result.error, AuthFailed) and not result.error.retryable
        lab.set_fault(spec.name, shell_login=False)
        with JuniperJunosDriver(spec.name, credentials) as driver:
            assert driver.read() == {}

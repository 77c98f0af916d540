"""Every SSH driver checks the router's host key before it sends a credential: a pinned key
must match, an unknown one is refused unless learning it once was allowed. Against the lab
twins over real SSH; the twins' keys are stable per device and change with their seed."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Callable, Iterator
from ipaddress import ip_network
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from drivers.base import (
    Batch,
    Credentials,
    Driver,
    DriverError,
    HostKeyMismatch,
    HostKeyUnknown,
    LineTarget,
    Unreachable,
)
from drivers.cli import SESSION_OPTION
from drivers.host_keys import fingerprint, offered_host_key, parse_host_key
from drivers.registry import DRIVERS, driver_for
from lab.netns import unavailable
from lab.ssh import public_host_key
from lab.topology import DeviceSpec, Lab, city, parse_topology

pytestmark = pytest.mark.lab

SSH_PLATFORMS = sorted(p for p, cls in DRIVERS.items() if cls.ssh)


def test_every_cli_platform_is_an_ssh_platform_and_eapi_and_snmp_are_not() -> None:
    assert SSH_PLATFORMS == [
        "cisco_ios", "h3c_comware", "huawei_vrp", "juniper_junos", "linux_nftables",
    ]  # fmt: skip
    assert not driver_for("arista_eos").has_host_key("192.0.2.1")
    assert not driver_for("snmp_ifadmin").has_host_key("192.0.2.1")
    assert not driver_for("linux_nftables").has_host_key("netns:r1")  # local: no SSH


# the same checks over another session layer (a device's `session` option)
SESSION_LAYERS = {
    "cisco_ios over asyncssh": ("cisco_ios", "asyncssh"),
    "juniper_junos over asyncssh": ("juniper_junos", "asyncssh"),
}
# the session layer each running lab's driver is made with (by the lab's id)
_LAYER_OF: dict[int, str] = {}


@pytest.fixture(params=[*SSH_PLATFORMS, *SESSION_LAYERS])
def router(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """One running twin, R1, of each SSH platform (and each other session layer)."""
    platform, layer = SESSION_LAYERS.get(request.param, (request.param, None))
    if platform == "linux_nftables" and (why := unavailable()) is not None:
        pytest.skip(f"linux_nftables twin: {why}")
    with Lab([DeviceSpec("R1", platform=platform)]) as lab:
        if layer is not None:
            _LAYER_OF[id(lab)] = layer
        try:
            yield lab
        finally:
            _LAYER_OF.pop(id(lab), None)


def driver(lab: Lab, **fields: object) -> Driver:
    spec = lab.specs[0]
    layer = _LAYER_OF.get(id(lab))
    credentials = Credentials(
        lab.host, spec.port, spec.username, spec.password, spec.secret, timeout=5,
        extra={SESSION_OPTION: layer} if layer else {},
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip
    return driver_for(spec.platform)("R1", credentials)


def reads(lab: Lab, **fields: object) -> dict:
    with driver(lab, **fields) as session:
        return session.read()


def test_a_session_to_a_router_offering_its_pinned_key_logs_in(router: Lab) -> None:
    assert reads(router, host_key=router.host_key("R1")) == {}
    assert router.passwords_offered("R1") == 1


def test_a_router_offering_another_key_is_refused_before_any_password(router: Lab) -> None:
    spec = router.specs[0]
    pinned = dataclasses.replace(spec, host_key_seed="before the keys were regenerated").host_key
    assert pinned is not None and pinned != router.host_key("R1")
    with pytest.raises(HostKeyMismatch) as refused:
        reads(router, host_key=pinned)
    message = str(refused.value)
    assert fingerprint(pinned) in message and fingerprint(router.host_key("R1")) in message
    assert "accept-host-key" in message
    assert not refused.value.retryable
    assert router.passwords_offered("R1") == 0 and router.sessions_opened("R1") == 0


def test_a_router_with_no_pinned_key_is_refused_unless_learning_is_allowed(router: Lab) -> None:
    with pytest.raises(HostKeyUnknown) as refused:
        reads(router)
    assert fingerprint(router.host_key("R1")) in str(refused.value)
    assert "--trust-new-host-keys" in str(refused.value)
    assert not refused.value.retryable
    assert router.passwords_offered("R1") == 0

    learnt: list[str] = []

    def told(key: str) -> None:
        assert router.passwords_offered("R1") == 0  # told before the log-in
        learnt.append(key)

    assert reads(router, trust_unknown_host_key=True, on_host_key_learnt=told) == {}
    assert learnt == [router.host_key("R1")]
    assert router.passwords_offered("R1") == 1


def test_whoever_learns_the_key_may_still_refuse_the_session(router: Lab) -> None:
    def refuse(key: str) -> None:
        raise HostKeyUnknown("learning was withdrawn meanwhile")

    with pytest.raises(HostKeyUnknown, match="withdrawn"):
        reads(router, trust_unknown_host_key=True, on_host_key_learnt=refuse)
    assert router.passwords_offered("R1") == 0


def test_a_refused_key_is_the_outcome_of_every_line_of_the_batch() -> None:
    spec = DeviceSpec("R1")
    with Lab([spec]) as lab:
        target = LineTarget(42, "GigabitEthernet0/1", (ip_network("198.18.1.0/24"),))
        stale = dataclasses.replace(spec, host_key_seed="old").host_key
        result = driver(lab, host_key=stale).apply(Batch(cuts=(target,)))
        config = lab.router("R1").running_config()
    assert isinstance(result.error, HostKeyMismatch)
    assert [o.verified for o in result.outcomes] == [False]
    assert "CURFEW" not in config


def test_the_key_a_router_offers_is_fetched_without_logging_in(router: Lab) -> None:
    port = router.specs[0].port
    assert offered_host_key(router.host, port, 5) == router.host_key("R1")
    assert offered_host_key(router.host, port, 5, prefer="ssh-ed25519") == router.host_key("R1")
    assert router.passwords_offered("R1") == 0


def test_fetching_the_key_of_a_router_that_is_down_is_unreachable() -> None:
    with Lab([DeviceSpec("R1", refuse_connections=True)]) as lab:
        with pytest.raises(Unreachable):
            offered_host_key(lab.host, lab.specs[0].port, 2)


# -- the lab's keys ---------------------------------------------------------------------------


def test_lab_host_keys_are_stable_per_device_and_change_with_the_seed() -> None:
    specs, _ = city(2, 1)
    assert specs[0].host_key == public_host_key("R1") == DeviceSpec("R1").host_key
    assert specs[0].host_key != specs[1].host_key
    assert DeviceSpec("R1", host_key_seed="regenerated").host_key != specs[0].host_key
    assert DeviceSpec("E1", platform="arista_eos").host_key is None  # eAPI: no SSH host key
    topology, _ = parse_topology(
        {"devices": [{"name": "R1", "host_key_seed": "x"}], "venues": [], "lines": []}
    )
    assert topology[0].host_key == DeviceSpec("R1", host_key_seed="x").host_key


def test_a_restarted_router_keeps_its_key_unless_given_another_seed() -> None:
    with Lab([DeviceSpec("R1")]) as first:
        spec = first.specs[0]
        assert reads(first, host_key=spec.host_key) == {}
    with Lab([spec]) as again:
        assert reads(again, host_key=spec.host_key) == {}
    with Lab([dataclasses.replace(spec, host_key_seed="regenerated")]) as regenerated:
        with pytest.raises(HostKeyMismatch):
            reads(regenerated, host_key=spec.host_key)


# -- key lines and fingerprints ---------------------------------------------------------------


def test_a_host_key_line_is_normalised_and_anything_else_refused() -> None:
    key = public_host_key("R1")
    assert parse_host_key(f"  {key} root@router  ") == key
    refused: list[tuple[object, str]] = [
        ("", "OpenSSH public-key line"),
        ("[127.0.0.1]:22 " + key, "OpenSSH public-key line"),
        (key.replace("ssh-ed25519", "ssh-dss"), "not one of"),
        (key.replace("ssh-ed25519", "ecdsa-sha2-nistp256"), "is a 'ssh-ed25519' key"),
        ("ssh-ed25519 AAAA!!!!", "OpenSSH public-key line"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA", "not a valid ssh-ed25519 key"),
        (key + "\nssh-ed25519 AAAA", "OpenSSH public-key line"),
        (None, "text line"),
    ]
    for text, why in refused:
        with pytest.raises(ValueError, match=why):
            parse_host_key(text)


@pytest.mark.parametrize(
    "private",
    [
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        lambda: ec.generate_private_key(ec.SECP256R1()),
        lambda: ec.generate_private_key(ec.SECP384R1()),
    ],
    ids=["ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384"],
)
def test_rsa_and_ecdsa_keys_may_be_pinned_too(private: Callable[[], object]) -> None:
    line = (
        private()  # type: ignore[attr-defined]
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    assert parse_host_key(line) == line
    assert fingerprint(line).startswith("SHA256:") and len(fingerprint(line)) == 50


def test_fingerprints_are_openssh_s(tmp_path: Path) -> None:
    key = public_host_key("R1")
    (tmp_path / "key.pub").write_text(key + "\n", encoding="utf-8")
    try:
        listed = subprocess.run(
            ["ssh-keygen", "-lf", str(tmp_path / "key.pub")],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout  # fmt: skip
    except FileNotFoundError:
        pytest.skip("ssh-keygen is not installed")
    assert listed.split()[1] == fingerprint(key)


def test_host_key_errors_sit_in_the_driver_error_tree_and_are_not_retried() -> None:
    assert issubclass(HostKeyMismatch, DriverError) and issubclass(HostKeyUnknown, DriverError)
    assert not HostKeyMismatch.retryable and not HostKeyUnknown.retryable

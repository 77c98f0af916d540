"""Junos configuration groups against the lab twin: a filter a group binds on the venue's unit
holds the slot as surely as one set on the unit (a statement set on the unit would override it),
so the cut of that line is refused and nothing is bound over it; a group binding elsewhere changes
nothing; and nothing under `groups` is ever the driver's to delete.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from drivers.base import Action, Batch, Credentials, LineState
from drivers.juniper_junos import JuniperJunosDriver
from lab.topology import DeviceSpec, Lab
from tests.drivers.test_junos_commit_confirmed import CUT_42, L42, L43, PORTS, VENUES, Rig, outcome

# render is pure: a driver that never opens a session is enough.
RENDER = JuniperJunosDriver("R1", Credentials("192.0.2.1", 22, "curfew", "unused"))

pytestmark = pytest.mark.lab

MGMT = (
    "set firewall family inet filter MGMT-ACCESS term allow from source-address 192.0.2.0/24",
    "set firewall family inet filter MGMT-ACCESS term allow then accept",
    "set firewall family inet filter MGMT-ACCESS term rest then discard",
)
NOC = "set groups NOC interfaces ge-0/0/1 unit 0 family inet filter input MGMT-ACCESS"
# what takes effect on line 42's port once NOC applies there
INHERITED = "set interfaces ge-0/0/1 unit 0 family inet filter input MGMT-ACCESS"


@pytest.fixture
def rig() -> Iterator[Rig]:
    spec = DeviceSpec("R1", platform="juniper_junos", interfaces=PORTS, config=(*VENUES, *MGMT))
    with Lab([spec]) as lab:
        yield Rig(lab)


@pytest.mark.parametrize(
    "applied",
    [
        (NOC, "set apply-groups NOC"),
        (NOC, "set interfaces ge-0/0/1 apply-groups NOC"),
        (
            "set groups NOC interfaces <ge-0/0/1> unit <*> family inet filter input MGMT-ACCESS",
            "set interfaces ge-0/0/1 unit 0 apply-groups NOC",
        ),
    ],
    ids=["apply-groups at the top", "on the interface", "on the unit, by wildcard"],
)
def test_a_filter_a_group_binds_on_the_port_refuses_that_cut_and_the_rest_goes_ahead(
    rig: Rig, applied: tuple[str, ...]
) -> None:
    rig.router.configure(applied)
    before = rig.config()
    assert INHERITED in rig.router.inherited_config().splitlines()
    assert INHERITED not in before.splitlines(), "plain display set does not show it"

    alone = rig.apply(Batch(cuts=(L42,)))
    both = rig.apply(Batch(cuts=(L42, L43)))

    assert alone.commands == () and alone.error is None
    for result in (alone, both):
        refused = outcome(result, 42)
        assert refused.commands == () and not refused.verified
        assert refused.state_after is LineState.OPEN
        assert refused.error is not None and refused.error.startswith("Rejected: ")
        assert "ge-0/0/1 unit 0 already filters inet input with MGMT-ACCESS" in refused.error
        assert "inherited from group NOC" in refused.error
    assert not any("ge-0/0/1" in c or "CURFEW-L42" in c for c in both.commands)
    assert outcome(both, 43).verified and outcome(both, 43).state_after is LineState.CUT
    assert both.error is None and not both.ok
    assert rig.lines() - set(before.splitlines()) == set(RENDER.render_line(Action.CUT, L43, None))
    assert set(before.splitlines()) <= rig.lines()
    assert INHERITED in rig.router.inherited_config().splitlines(), "NOC's filter still holds"

    assert rig.apply(Batch(restores=(L43,))).ok
    assert rig.config() == before


def test_a_group_binding_a_filter_on_another_port_does_not_stop_the_cut(rig: Rig) -> None:
    rig.router.configure(
        [NOC.replace("ge-0/0/1", "ge-0/0/2"), "set interfaces ge-0/0/2 apply-groups NOC"]
    )
    before = rig.config()
    with rig.driver() as driver:
        assert driver.read().inherited == {("ge-0/0/2", "0", "inet", "input"): ("NOC",)}

    cut = rig.apply(Batch(cuts=(L42,)))

    assert cut.ok and outcome(cut, 42).state_after is LineState.CUT
    assert CUT_42 <= rig.lines()
    assert rig.apply(Batch(restores=(L42,))).ok
    assert rig.config() == before


def test_a_restore_deletes_only_statements_set_on_the_unit_and_never_a_groups(rig: Rig) -> None:
    assert rig.apply(Batch(cuts=(L42,))).ok
    # After the cut, the NOC applies its filter to the port (line 42's binding, set on the unit,
    # hides it) and keeps a spare group naming line 42's filters, applied nowhere.
    spare = "set groups SPARE interfaces ge-0/0/1 unit 0 family inet6 filter input CURFEW6-L42"
    rig.router.configure([NOC, "set apply-groups NOC", spare])
    assert INHERITED not in rig.router.inherited_config().splitlines()

    restored = rig.apply(Batch(restores=(L42,)))

    assert restored.ok and outcome(restored, 42).state_after is LineState.OPEN
    assert not any("groups" in c for c in restored.commands)
    assert {NOC, "set apply-groups NOC", spare} <= rig.lines()
    assert not any("CURFEW" in line for line in rig.lines() if not line.startswith("set groups"))
    assert INHERITED in rig.router.inherited_config().splitlines(), "NOC's filter takes over"

"""Enforcement policies: windows and kinds of order, as data and small pure functions."""

from policies.jurisdictions import Jurisdictions, load_jurisdictions
from policies.windows import (
    CURFEW,
    DISCONNECT,
    ORDER_KINDS,
    POLICIES,
    Policy,
    Window,
    first_instant_at,
    policy_for,
    zone,
    zone_names,
)

__all__ = [
    "CURFEW",
    "DISCONNECT",
    "Jurisdictions",
    "ORDER_KINDS",
    "POLICIES",
    "Policy",
    "Window",
    "first_instant_at",
    "load_jurisdictions",
    "policy_for",
    "zone",
    "zone_names",
]

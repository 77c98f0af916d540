"""Who is acting, and the domain's own access rules (jurisdiction, ownership of orders).

Which role may call which endpoint is the API's matrix (`api/auth.py`); what a bureau may do
to a venue or an order is a rule of the domain, enforced here for every face (API, feeds, CLI).
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.errors import Forbidden as Forbidden  # raised here, imported from here

ROLES = ("bureau", "noc", "auditor", "admin")


@dataclass(frozen=True)
class Actor:
    name: str  # recorded with every change: "bureau:city-bureau/token 3", "admin", ...
    role: str = "admin"
    authority_id: int | None = None
    regions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")
        if self.role == "bureau" and self.authority_id is None:
            raise ValueError("a bureau actor acts for one authority")

    @property
    def is_bureau(self) -> bool:
        return self.role == "bureau"

    def check_venue(self, venue_name: str, region: str | None) -> None:
        """A bureau acts only for venues in its jurisdiction; admins act for any."""
        if self.is_bureau and (region is None or region not in self.regions):
            raise Forbidden(
                f"venue {venue_name!r} (region {region or 'none'}) is outside the jurisdiction "
                f"of this authority (regions {', '.join(self.regions) or 'none'})"
            )

    def check_order(self, order_id: int, authority_id: int) -> None:
        if self.is_bureau and authority_id != self.authority_id:
            raise Forbidden(f"order {order_id} was issued by another authority")


def as_actor(actor: Actor | str) -> Actor:
    """Internal callers (demo, CLI) may name an admin actor with a plain string."""
    return actor if isinstance(actor, Actor) else Actor(name=actor)

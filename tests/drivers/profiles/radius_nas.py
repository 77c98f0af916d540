"""Subscribers on a NAS, through FreeRADIUS's SQL tables, in the conformance suite.

The suite's lines 42, 43 and 44 are the subscribers `sub42`, `sub43` and `sub44` on one BNG
twin (test_contract.SubscriberRig): the "configuration" is radcheck, one `username attribute op
value` per row in id order, so a cut adds its refusal row and a restore removes it. A person
changing it writes rows by hand (`delete ` before a row removes it). Cases about interfaces,
prefixes, staging or a CLI session cannot apply to a subscriber and are skipped, each with why.
"""

from __future__ import annotations

from drivers.base import LineState
from tests.drivers.profiles import Profile


def _user(n: int) -> str:
    return f"sub{n}"


_NO_LOGIN = "no login to refuse: SQLite has none, and a wrong DAE secret is no answer"
_PER_SESSION = (
    "a NAS answers per session (a Disconnect-NAK, or no answer), not per batch: the line is left "
    "unknown with the cause (tests/integration/test_subscribers.py, must-show 2)"
)
_NO_CLI = "no CLI session to drop: SQL statements and UDP requests, each on its own"

PROFILE = Profile(
    platform="radius_nas",
    uplink="",  # a subscriber has no port
    # the usernames of lines 42, 43 and 44 (SubscriberRig names its targets from these)
    venue_ports=("sub42", "sub43", "sub44"),
    port_name=lambda n: _user(1000 + n),
    cut_of_l42=("sub42 Auth-Type := Reject",),
    # another refusal the carrier wrote (an unpaid bill): never curfew's to touch
    foreign_acl=lambda _port: ("sub77 Auth-Type := Reject",),
    delete_l42_acl=("delete sub42 Auth-Type := Reject",),
    # the carrier's own rows: other attributes of a cut subscriber, another one's refusal
    other_config=(
        "sub42 Simultaneous-Use := 1",
        "sub44 Cleartext-Password := pw44",
        "sub77 Auth-Type := Reject",
    ),
    # the remaining fields speak of CLI sessions; every case using them is skipped below
    reject_pattern="",
    rejected_command="",
    invalid_marker="",
    drop_points={},
    config_enter="",
    rejected_line_state=LineState.UNKNOWN,
    owned_marker="Auth-Type := Reject",
    no_device_timing="a refusal row takes effect at the next log-in, not at a time on a clock",
    no_staging="a refusal row has no half without effect: it refuses the subscriber once written",
    skips={
        "test_read_finds_owned_lines_only": "a subscriber has no bindings nor prefixes to read "
        "(read-back of refusals and sessions: test_single_session_reads_and_applies)",
        "test_foreign_acl_is_never_replaced_and_other_config_is_untouched": "nothing foreign can "
        "stand in a refusal's way; other rows surviving is test_restore_returns_the_running_"
        "config_byte_for_byte",
        "test_bad_password_is_auth_failed_and_not_retryable": _NO_LOGIN,
        "test_device_refusing_every_login_is_auth_failed": _NO_LOGIN,
        "test_wrong_enable_secret_is_auth_failed": "no enable secret",
        "test_rejected_command_is_reported_and_the_device_still_read_back": _PER_SESSION,
        "test_session_dropped_is_unreachable_and_retryable": _NO_CLI,
        "test_session_hung_up_on_a_command_in_flight_is_noticed": _NO_CLI,
        "test_device_that_stops_answering_is_a_timeout": _PER_SESSION,
        "test_running_config_is_never_saved": "no running and saved configuration: a row of the "
        "RADIUS database is in effect as written",
    },
)

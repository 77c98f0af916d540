"""One netmiko SSH session as the CLI drivers use it: netmiko wrapped, not subclassed; its errors
become the project's here, and reads end on the device's prompts rather than on timers.

Two pieces of netmiko are replaced: its channel reader, so that a session the device closes
is noticed at once, also during netmiko's own log-in exchanges (see `WatchfulChannel`), and its
paramiko client, which accepted any host key: ours checks the device's pinned key before any
credential is sent (`drivers.host_keys`).
"""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import paramiko
from netmiko import ConnectHandler
from netmiko.channel import SSHChannel
from netmiko.exceptions import (
    NetmikoAuthenticationException,
    NetmikoBaseException,
    NetmikoTimeoutException,
    ReadException,
    ReadTimeout,
)

from drivers.base import (
    AuthFailed,
    Batch,
    BatchResult,
    Credentials,
    DriverError,
    OwnedLine,
    Rejected,
    Timeout,
    Unreachable,
)
from drivers.host_keys import HostKeyCheck
from drivers.outcomes import LinePlan, first_line, outcome, rejected, unknown_outcomes

# Config commands written before waiting for the device to answer them (see `push`).
PUSH_WINDOW = 64
# Shortest and longest pause between two reads of a device's answer.
POLL_SECONDS = (0.001, 0.02)

_SESSION_ERRORS = (NetmikoTimeoutException, NetmikoBaseException, paramiko.SSHException)


def channel_closed(channel: Any) -> bool:
    """Whether the device has closed this paramiko channel (or its whole connection)."""
    transport = getattr(channel, "transport", None)
    return bool(
        channel is None
        or channel.closed
        or channel.eof_received
        or transport is None
        or not transport.is_active()
    )


class WatchfulChannel(SSHChannel):
    """netmiko's SSH channel, except that reading a closed channel fails at once.

    netmiko's reader returns "" for a channel the device has closed, so each of its reads
    (including those of its log-in: paging, terminal width, prompt) polls until its 20 s
    timeout. A device that dies mid-login is then a slow, misnamed timeout. Data already
    received is still returned first: only a read that finds nothing and a closed channel fails.
    """

    def read_channel(self) -> str:
        text = super().read_channel()
        if not text and channel_closed(self.remote_conn):
            raise ReadException("session closed by the device")
        return text


def _connect(host_key_check: HostKeyCheck, **params: Any) -> Any:
    """netmiko's ConnectHandler, with the device's host key checked (instead of netmiko's
    accept-anything policy) and the channel made watchful before the log-in exchanges."""
    connection = ConnectHandler(**params, auto_connect=False)
    connection._build_ssh_client = host_key_check.client
    stock_login_handler = connection.special_login_handler

    def login_handler(*args: Any, **kwargs: Any) -> Any:
        # netmiko calls this right after it made the channel and before any read
        connection.channel = WatchfulChannel(connection.remote_conn, connection.encoding)
        return stock_login_handler(*args, **kwargs)

    connection.special_login_handler = login_handler
    try:
        connection._open()
    except BaseException:
        discard(connection)
        raise
    return connection


class CliSession:
    """A device's SSH session, opened on demand and dropped when an exchange breaks it.

    `enable` enters privileged mode after log-in (IOS); `before_logout` is handed the
    connection just before netmiko's polite teardown (VRP answers a mode check there);
    `wake_seconds`, when set, sleeps in `select` until the channel has data instead of
    polling with a backoff.
    """

    def __init__(
        self,
        where: str,
        credentials: Credentials,
        device_type: str,
        *,
        enable: bool = False,
        before_logout: Callable[[Any], None] | None = None,
        wake_seconds: float | None = None,
    ) -> None:
        self.where = where
        self.credentials = credentials
        self.device_type = device_type
        self.enable = enable
        self.before_logout = before_logout
        self.wake_seconds = wake_seconds
        self.connection: Any = None

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        if self.connection is not None:
            return
        creds = self.credentials
        try:
            connection = _connect(
                HostKeyCheck(
                    self.where,
                    creds.host_key,
                    creds.trust_unknown_host_key,
                    creds.on_host_key_learnt,
                ),
                device_type=self.device_type,
                host=creds.host,
                port=creds.port,
                username=creds.username,
                password=creds.password,
                secret=creds.secret,
                fast_cli=True,
                conn_timeout=creds.timeout,
                auth_timeout=creds.timeout,
                banner_timeout=creds.timeout,
                timeout=creds.timeout,
                use_keys=False,
                allow_agent=False,
            )
        except NetmikoAuthenticationException as exc:
            raise AuthFailed(f"{self.where}: login refused") from exc
        except _SESSION_ERRORS as exc:
            raise Unreachable(
                f"{self.where}: cannot open an SSH session: {first_line(exc)}"
            ) from exc
        except (OSError, EOFError) as exc:
            raise Unreachable(f"{self.where}: cannot connect: {exc}") from exc
        if self.enable:
            self._enter_enable(connection)
        self.connection = connection

    def _enter_enable(self, connection: Any) -> None:
        lost = f"{self.where}: session lost entering enable"
        try:
            connection.enable()
        except ValueError as exc:
            discard(connection)
            raise AuthFailed(f"{self.where}: enable refused") from exc
        except _SESSION_ERRORS as exc:
            discard(connection)
            raise Unreachable(f"{lost}: {first_line(exc)}") from exc
        except (OSError, EOFError) as exc:
            discard(connection)
            raise Unreachable(f"{lost}: {exc}") from exc

    def close(self) -> None:
        """Log out politely; closing a dead session does not fail a pass."""
        connection, self.connection = self.connection, None
        if connection is not None:
            if self.before_logout is not None:
                self.before_logout(connection)
            try:
                connection.disconnect()
            except Exception:  # noqa: BLE001 - closing a dead session must not fail a pass
                pass

    def drop(self) -> None:
        """Forget the session without the polite exit: after a failure it may not answer."""
        connection, self.connection = self.connection, None
        if connection is not None:
            discard(connection)

    @contextmanager
    def opened(self) -> Iterator[Any]:
        """The open connection (opened here, and closed after, if it was not already)."""
        opened_here = self.connection is None
        self.open()
        try:
            yield self.connection
        finally:
            if opened_here:
                self.close()

    def alive(self) -> bool:
        return not channel_closed(getattr(self.connection, "remote_conn", None))

    # -- exchanges -------------------------------------------------------------------------

    @contextmanager
    def exchange(self, what: str) -> Iterator[None]:
        """Translate errors of one exchange on an open session; a broken session is dropped."""
        try:
            yield
        except ReadTimeout as exc:
            alive = self.alive()
            self.drop()
            if alive:
                raise Timeout(f"{self.where}: no answer to {what}") from exc
            raise Unreachable(f"{self.where}: session closed during {what}") from exc
        except _SESSION_ERRORS as exc:
            self.drop()
            raise Unreachable(
                f"{self.where}: session lost during {what}: {first_line(exc)}"
            ) from exc
        except (OSError, EOFError) as exc:
            self.drop()
            raise Unreachable(f"{self.where}: session lost during {what}: {exc}") from exc

    def write(self, lines: Sequence[str]) -> None:
        """Write lines at once, each ended as the device expects."""
        connection = self.connection
        connection.write_channel("".join(connection.normalize_cmd(line) for line in lines))

    def read_until(
        self, done: Callable[[str], bool], answer: list[str], timeout: float | None = None
    ) -> str:
        """Read the device's answer until `done(answer)`, or the timeout passes.

        netmiko's reads poll every 10 ms and go on polling a closed channel until their
        timeout; this one notices at once. A partial answer is left in `answer`.
        """
        limit = self.credentials.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        pause = POLL_SECONDS[0]
        text = ""
        try:
            while True:
                chunk = self.connection.read_channel()
                if chunk:
                    text += chunk
                    if done(text):
                        return text
                    pause = POLL_SECONDS[0]
                elif not self.alive():
                    raise ReadException("session closed by the device")
                else:
                    # back off while the device is silent: many sessions run in parallel
                    pause = min(pause * 2, POLL_SECONDS[1])
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ReadTimeout(f"no complete answer in {limit} s")
                if self.wake_seconds is None:
                    time.sleep(pause)
                else:
                    # wake on data (paramiko channels offer a file descriptor for it); look at
                    # the session's health at least every `wake_seconds`
                    channel = self.connection.remote_conn
                    select.select([channel], [], [], min(left, self.wake_seconds))
        except (ReadException, ReadTimeout):
            answer.append(text)
            raise

    def show(self, command: str, finished: Callable[[str], bool]) -> str:
        """Run one read-only command; its answer, read until `finished` says it is whole."""
        answer: list[str] = []
        with self.exchange(command):
            self.write([command])
            return self.read_until(finished, answer)

    def push(
        self,
        commands: Sequence[str],
        answered: Callable[[Sequence[str]], Callable[[str], bool]],
        window: int = PUSH_WINDOW,
    ) -> str:
        """Send config commands in windows; the device's whole answer.

        netmiko's `send_config_set` waits out a poll (or a timer) per command: 3,200 commands
        for 200 dual-stack lines took 33 s on IOS. Here each window is written at once and read
        until `answered(window)` says the device has answered all of it. The device echoes
        each command as it processes it, so the answer still pairs every command with its
        errors for the platform to find afterwards. A window bounds the input waiting on the
        router. A failed push's error carries the partial answer.
        """
        answer: list[str] = []
        try:
            with self.exchange("configuration commands"):
                for start in range(0, len(commands), window):
                    chunk = commands[start : start + window]
                    self.write(chunk)
                    answer.append(self.read_until(answered(chunk), answer))
        except DriverError as exc:
            exc.output = "".join(answer) + exc.output
            raise
        return "".join(answer)


NOT_ECHOED = "not echoed"


def echoed_rejections(
    plans: Sequence[LinePlan],
    sent: Sequence[str],
    found: Sequence[tuple[int | None, str]],
    output: str,
) -> tuple[dict[int, str], Rejected | None]:
    """Which plan each problem belongs to, and the batch's Rejected error if any.

    `sent` is one framing command, the plans' commands in order, and one closing command;
    `found` is (index into `sent`, problem) as the platform read them from the device's echo,
    with `NOT_ECHOED` for the first command whose echo never came.
    """
    owner: list[int | None] = [None]
    for index, plan in enumerate(plans):
        owner.extend([index] * len(plan.commands))
    owner.append(None)
    by_plan: dict[int, str] = {}
    messages: list[str] = []
    for position, problem in found:
        command = sent[position] if position is not None else "(unknown command)"
        if problem == NOT_ECHOED:
            message = f"device never echoed {command!r}: input was lost from there on"
        else:
            message = f"device rejected {command!r}: {problem}"
        messages.append(message)
        plan_index = owner[position] if position is not None else None
        if plan_index is not None:
            by_plan.setdefault(plan_index, message)
    return by_plan, rejected(messages, output)


def where_of(name: str, credentials: Credentials) -> str:
    """How errors name a device: its name and address."""
    return f"{name} ({credentials.host}:{credentials.port})"


def discard(connection: Any) -> None:
    """Drop a session without the polite exit: after a failure the device may not answer.

    netmiko registers a secrets filter on its logger per connection and removes it only in
    its polite `disconnect`; it is removed here too, or every dropped session would leave one.
    """
    try:
        connection.paramiko_cleanup()
    except Exception:  # noqa: BLE001 - best effort on an already broken session
        pass
    secrets_filter = getattr(connection, "_secrets_filter", None)
    if secrets_filter is not None:
        logging.getLogger("netmiko").removeFilter(secrets_filter)


Config = TypeVar("Config", bound=Mapping[int, OwnedLine])


def apply_echoed(
    device: str,
    batch: Batch,
    session: CliSession,
    *,
    read: Callable[[], Config],
    plan: Callable[[Batch, Config], tuple[LinePlan, ...]],
    frame: tuple[str, str],
    push: Callable[[tuple[str, ...]], str],
    find_rejections: Callable[[Sequence[str], str], list[tuple[int | None, str]]],
) -> BatchResult:
    """Read, plan, push the lines' commands as one block between `frame`'s entering and leaving
    commands, read back: the one place a device error becomes a result, for the drivers whose
    errors are found in the device's echo of what was sent (`find_rejections`)."""
    if not len(batch):
        return BatchResult(device, ())
    plans: tuple[LinePlan, ...] = ()
    sent: tuple[str, ...] = ()
    output = ""
    try:
        with session.opened():
            before = read()
            plans = plan(batch, before)
            line_commands = [c for line_plan in plans for c in line_plan.commands]
            rejections: dict[int, str] = {}
            error: DriverError | None = None
            if line_commands:
                sent = (frame[0], *line_commands, frame[1])
                output = push(sent)
                rejections, error = echoed_rejections(
                    plans, sent, find_rejections(sent, output), output
                )
                after: Mapping[int, OwnedLine] = read()
            else:
                after = before
    except DriverError as exc:
        return BatchResult(
            device=device,
            outcomes=unknown_outcomes(batch, plans, exc),
            commands=sent,
            device_output=output or exc.output,
            error=exc,
        )
    outcomes = tuple(outcome(p, after, rejections.get(i)) for i, p in enumerate(plans))
    return BatchResult(device, outcomes, sent, output, error)

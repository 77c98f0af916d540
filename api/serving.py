"""How `curfew serve` listens and stops: the port is bound before anything starts (a busy port
is one line and a non-zero exit, not a scheduler left running), and SIGTERM or Ctrl-C stops the
server and the scheduler within a bounded time, exiting 0."""

from __future__ import annotations

import errno
import os
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType

import uvicorn
from fastapi import FastAPI

from controller.scheduler import PassScheduler

# seconds open HTTP requests get to finish once a stop is asked for
HTTP_GRACE_SECONDS = 5


class CannotListen(Exception):
    """The address cannot be listened on; the message is the one line the operator reads."""


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, or CannotListen saying why (a port in use, above all)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise CannotListen(f"cannot listen on {host}: {exc.strerror}") from None
    listener = socket.socket(family, kind, proto)
    try:
        # as uvicorn and asyncio do: a port whose last connections linger in TIME_WAIT is free,
        # one that another socket listens on is not
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise CannotListen(f"port {port} on {host} is in use") from None
        raise CannotListen(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return listener


def run(
    app: FastAPI,
    listener: socket.socket,
    scheduler: PassScheduler | None,
    echo: Callable[[str], None],
) -> None:
    """Serve on `listener` until SIGTERM or SIGINT, then stop within a bounded time.

    The app's lifespan starts the scheduler and shuts it down (waiting `stop_grace` seconds
    for a pass in progress). A pass still running then has been recorded as abandoned, and its
    device sessions cannot be interrupted: the process ends at once with status 0, leaving the
    pass's intents for the next start-up pass to resolve.
    """
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=HTTP_GRACE_SECONDS)
    server = uvicorn.Server(config)

    def stop(signum: int, _frame: FrameType | None) -> None:
        # uvicorn handles the signals while it serves and raises them again once it has
        # stopped; this turns that second delivery (and one before it serves) into a clean
        # stop instead of the default death by signal
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run(sockets=[listener])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        listener.close()
    stopped = scheduler.stopped if scheduler is not None else None
    if scheduler is not None and stopped is not None and not stopped.clean:
        began = stopped.abandoned_at.isoformat() if stopped.abandoned_at else "unknown"
        record = f"record {stopped.record_seq}" if stopped.record_seq else "NOT recorded"
        echo(
            f"stopped: the pass of {began} was still running after {scheduler.stop_grace:g} s "
            f"and is abandoned (pass_abandoned, {record}); its intents stay in the log and the "
            "next start-up pass reads those lines first"
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # the pass's device sessions would keep the interpreter from exiting
    echo("stopped")

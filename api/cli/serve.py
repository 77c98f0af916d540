"""`curfew serve`: the API and the scheduler's passes in one process. The port is bound before
anything starts (a busy port is one line and a non-zero exit, not a scheduler left running), and
SIGTERM or Ctrl-C stops the server and the scheduler within a bounded time, exiting 0."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import DatabaseOpt, fail, instant, open_store, operator, settings_with
from api.logs import configure as configure_logging
from controller.clock import OffsetClock
from controller.holds import CutBounds
from controller.reconciler import Reconciler
from controller.scheduler import PassScheduler

if TYPE_CHECKING:
    from fastapi import FastAPI


def serve(
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1")] = 8000,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    no_scheduler: Annotated[
        bool, typer.Option("--no-scheduler", help="serve the API only; no passes run")
    ] = False,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="lab stores only: start the clock at this instant (ISO 8601 with offset) "
            "and let it run at the real pace",
            show_default=False,
        ),
    ] = None,
    no_checkpoints: Annotated[
        bool,
        typer.Option(
            "--no-checkpoints",
            help="serve without a signing key: no signed checkpoints, so truncation of the "
            "log's tail and a rewritten chain cannot be detected (logged as "
            "checkpoints_disabled)",
        ),
    ] = False,
    stop_timeout: Annotated[
        float,
        typer.Option(
            min=0,
            max=600,
            help="seconds a pass in progress may run on after SIGTERM before it is abandoned "
            "(recorded as pass_abandoned)",
        ),
    ] = 20,
    database_url: DatabaseOpt = None,
) -> None:
    """Serve the API (OpenAPI at /docs) and run the scheduler's passes.

    Needs a signing key (CURFEW_SIGNING_KEY_FILE) unless --no-checkpoints. Stops on SIGTERM or
    Ctrl-C within about --stop-timeout seconds, exiting 0."""
    settings = settings_with(database_url)
    configure_logging(settings.log_format)  # stderr, text or JSON lines (CURFEW_LOG_FORMAT)
    if settings.admin_token is None:
        raise fail("set CURFEW_ADMIN_TOKEN (16+ random characters) before serving the API")
    if settings.signing_key_file is None and not no_checkpoints:
        raise fail(
            "no signing key: make one with `curfew audit keygen --out key.pem` and set "
            "CURFEW_SIGNING_KEY_FILE=key.pem, or pass --no-checkpoints to serve without "
            "signed checkpoints"
        )
    try:
        listener = listen(host, port)  # before anything starts: a busy port stops us here
    except CannotListen as exc:
        raise fail(str(exc)) from None
    # the API's modules (FastAPI, the pages, the feeds) are imported once the port is ours: on a
    # busy port, their second of start-up would only delay the one line the operator reads
    from api.app import create_app
    from controller.feeds import feed_job

    try:
        clock = OffsetClock(instant(at)) if at is not None else None
        settings, store = open_store(database_url, create=True, clock=clock)
    except BaseException:
        listener.close()
        raise
    if clock is not None and store.kind != "lab":
        listener.close()
        raise fail(
            "--at: this is a production store, whose passes act only at the real time; "
            "a controller on a simulated clock needs a lab store (`curfew store init --lab`)"
        )
    if no_checkpoints:
        store.checkpointer = None
        store.log_admin(
            "checkpoints_disabled",
            f"cli:{operator()}",
            detail=json.dumps(
                {
                    "instance": settings.instance,
                    "why": "curfew serve --no-checkpoints: no signed checkpoints while it runs",
                }
            ),
        )
    scheduler = None
    if not no_scheduler:
        reconciler = Reconciler(
            store,
            settings.device_workers,
            settings.device_timeout,
            actor=f"reconciler@{settings.instance}",
            cut_bounds=CutBounds.from_settings(settings),
        )
        scheduler = PassScheduler(
            reconciler,
            store.clock,
            timedelta(seconds=settings.tick_seconds),
            feeds=feed_job(store),
            drift_every=timedelta(seconds=settings.drift_seconds),
            stop_grace=stop_timeout,
            prepare_lead=timedelta(seconds=settings.prepare_lead),
            arm_lead=timedelta(seconds=settings.arm_lead),
        )
    typer.echo(f"curfew API on http://{host}:{port} (scheduler {'off' if no_scheduler else 'on'})")
    if no_checkpoints:
        typer.secho(
            "checkpoints are OFF (--no-checkpoints, recorded as checkpoints_disabled): "
            "truncation of the log's tail and a rewritten chain cannot be detected",
            fg=typer.colors.YELLOW,
            err=True,
        )
    app = create_app(settings, store, scheduler, checkpoints_disabled=no_checkpoints)
    run(app, listener, scheduler, typer.echo)


# -- listening and stopping ------------------------------------------------------------------

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
    import uvicorn

    # log_config=None: uvicorn's records go through the handler `configure_logging` installed
    config = uvicorn.Config(
        app, log_level="warning", log_config=None, timeout_graceful_shutdown=HTTP_GRACE_SECONDS
    )
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

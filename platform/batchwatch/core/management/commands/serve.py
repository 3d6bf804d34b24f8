"""``manage.py serve``: the web server, with the embedded scheduler when there is no broker."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from django.core.wsgi import get_wsgi_application
from django.db import connections
from waitress import wasyncore
from waitress.server import create_server

from batchwatch.core import startup
from batchwatch.core.heap import freeze_startup_heap
from batchwatch.core.scheduler import EmbeddedScheduler

# A stop is bounded: the scheduler finishes its tick or is abandoned after this long, and a
# server process finishes its requests (waitress gives them 5 s)...
SCHEDULER_STOP_SECONDS = 10
# ... within this, after which the supervisor kills what is left.
CHILD_STOP_SECONDS = 15


class Command(BaseCommand):
    help = (
        "Serve Batchwatch over HTTP (waitress). Without REDIS_URL, also runs the in-process "
        "scheduler; Ctrl-C stops both."
    )

    def add_arguments(self, parser):
        base = urlsplit(settings.BATCHWATCH_BASE_URL)
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, default=base.port or 8000)
        parser.add_argument("--threads", type=int, default=8, help="request worker threads")
        parser.add_argument(
            "--processes",
            type=int,
            default=None,
            help="server processes sharing the port (default: $WEB_CONCURRENCY or 1); "
            "Python runs one core per process",
        )
        parser.add_argument(
            "--check-port",
            action="store_true",
            help="only check that the port can be bound, then exit (make run asks first)",
        )
        parser.add_argument(
            "--no-scheduler",
            action="store_true",
            help="do not start the embedded scheduler (production uses Celery beat)",
        )

    def handle(self, *args, host, port, threads, processes, no_scheduler, check_port, **options):
        application = get_wsgi_application()
        if not 0 <= port < 65536:
            raise CommandError(f"--port {port} is not a TCP port (1-65535, or 0 for any free one).")
        if processes is None:
            raw = os.environ.get("WEB_CONCURRENCY", "").strip() or "1"
            if not raw.isdigit():
                raise CommandError(f"WEB_CONCURRENCY={raw!r} is not a number of processes.")
            processes = int(raw)
        if not 1 <= processes <= 64:
            raise CommandError(f"{processes} server processes: choose between 1 and 64.")
        # Bind before anything else: the port may be taken, and saying "serving" (or starting
        # the scheduler) before knowing would be a lie.
        listener = bind(host, port)
        if check_port:
            listener.close()
            return
        url = f"http://{_url_host(host)}:{listener.getsockname()[1]}"
        stop = _StopFlag.install()
        try:
            # What the apps do as the server starts (runbooks: load runbooks/*.md).
            startup.run_all(now=datetime.now(UTC), stdout=self.stdout, stderr=self.stderr)
            freeze_startup_heap()  # (before forking: the children share those pages)
            self.stdout.write(self.style.SUCCESS(f"Batchwatch is serving at {url}  (Ctrl-C stops)"))
            tick = settings.BATCHWATCH_SCHEDULER_TICK_SECONDS
            with_scheduler = settings.BATCHWATCH_EMBEDDED and not no_scheduler
            if processes == 1:
                scheduler = _start_scheduler(tick, self.stdout) if with_scheduler else None
                try:
                    _serve_until_stopped(application, listener, threads, stop)
                finally:
                    if scheduler is not None:
                        _stop_scheduler(scheduler, self.stdout)
            else:
                self.stdout.write(f"{processes} server processes, {threads} threads each.")
                web = functools.partial(_serve_until_stopped, application, listener, threads, stop)
                scheduling = functools.partial(_scheduler_process, tick, stop, self.stdout)
                _serve_forked(web, processes, scheduling if with_scheduler else None, stop)
        finally:
            listener.close()


def bind(host: str, port: int) -> socket.socket:
    """The listening socket on ``host:port`` (port 0: any free port), or a one-sentence
    ``CommandError`` when the address cannot be had (taken, not ours, not resolvable)."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return socket.create_server((host, port), family=family, backlog=1024)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            reason = (
                f"port {port} is already in use by another program (an earlier `make run`?); "
                f"stop it or choose another port with `make run PORT={port + 1}` or "
                f"`manage.py serve --port {port + 1}`"
            )
        elif exc.errno == errno.EACCES:
            reason = f"port {port} needs privileges; choose one above 1023 (PORT=8000)"
        else:
            reason = exc.strerror or str(exc)
        raise CommandError(f"Cannot listen on {host}:{port}: {reason}.") from None


def _url_host(host: str) -> str:
    """The host as it goes in a URL: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host else host


class _StopFlag:
    """SIGTERM (``docker stop``, process managers) and SIGINT (Ctrl-C) stop the server
    gracefully, each by setting this flag, which the serving loop reads between polls.

    A flag rather than an exception: a KeyboardInterrupt raised by a signal handler lands
    wherever the main thread happens to be, and where Python can only report it (an at-fork
    hook such as logging's, a ``__del__``) it is printed and dropped, and the stop with it. A
    flag cannot be lost, and setting it twice changes nothing."""

    def __init__(self, signals: frozenset[signal.Signals]) -> None:
        self.signals = signals
        self.signum = 0

    @classmethod
    def install(cls) -> _StopFlag:
        """The flag, handling both signals, which stay blocked (held, not lost) until the
        serving loop waits for them: a signal during start-up stops the server as soon as it
        is ready, and threads started meanwhile (the scheduler's, waitress's) inherit the
        mask, so the main thread is the one that takes them."""
        # An ignored SIGINT stays ignored: `serve &` in a script is not stopped by Ctrl-C.
        sigint = signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
        flag = cls(frozenset({signal.SIGTERM, *([signal.SIGINT] if sigint else [])}))
        signal.pthread_sigmask(signal.SIG_BLOCK, flag.signals)
        for signum in flag.signals:
            signal.signal(signum, flag)
        return flag

    def __call__(self, signum: int, frame: object) -> None:
        self.signum = self.signum or signum


def _serve_until_stopped(
    application: Any, listener: socket.socket, threads: int, stop: _StopFlag
) -> None:
    """waitress's own loop (``server.run()``), one poll at a time until ``stop`` is set, then
    its own shutdown: the request threads finish what they are doing (waitress waits 5 s)."""
    sockets: dict[int, Any] = {}  # waitress's map: the listener, its trigger, the connections
    server = create_server(application, map=sockets, sockets=[listener], threads=threads)
    # Unblocked in this thread only (the request threads keep them blocked), so that this is
    # the thread whose poll the signal interrupts; the flag is read when the poll returns, at
    # most ``asyncore_loop_timeout`` (1 s) later.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, stop.signals)
    try:
        while sockets and not stop.signum:
            wasyncore.loop(
                timeout=server.adj.asyncore_loop_timeout,
                use_poll=server.adj.asyncore_use_poll,
                map=sockets,
                count=1,
            )
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, stop.signals)  # stopping already
        server.task_dispatcher.shutdown()
        wasyncore.close_all(sockets, ignore_all=True)


def _start_scheduler(tick: float, stdout: OutputWrapper) -> EmbeddedScheduler:
    scheduler = EmbeddedScheduler(tick_seconds=tick)
    scheduler.start()
    stdout.write("Embedded scheduler started.")
    return scheduler


def _stop_scheduler(scheduler: EmbeddedScheduler, stdout: OutputWrapper) -> None:
    scheduler.stop(timeout=SCHEDULER_STOP_SECONDS)
    if scheduler.is_alive():
        stdout.write(
            f"Embedded scheduler stopped; a task still running after {SCHEDULER_STOP_SECONDS} s "
            "was abandoned."
        )
    else:
        stdout.write("Embedded scheduler stopped.")


def _scheduler_process(tick: float, stop: _StopFlag, stdout: OutputWrapper) -> None:
    """The embedded scheduler in a process of its own, until SIGTERM or SIGINT (blocked since
    start-up, so taken here by ``sigwait``, whenever they came)."""
    scheduler = _start_scheduler(tick, stdout)
    try:
        signal.sigwait(stop.signals)
    finally:
        _stop_scheduler(scheduler, stdout)


def _serve_forked(
    web: Callable[[], None],
    processes: int,
    scheduler: Callable[[], None] | None,
    stop: _StopFlag,
) -> None:
    """Pre-fork: bound once, then ``processes`` children serve the same socket (the kernel
    spreads connections), each with its own threads and database connections, and one more
    child runs the embedded scheduler (so it runs once). This process only supervises: it
    restarts a child that exits, and on SIGTERM or SIGINT stops them all and reaps them.

    It starts no thread, so every fork (the first ones and restarts) copies a process where
    no other thread holds a lock (logging's, a database driver's, an output buffer's) that
    the child would then wait for forever. It takes its signals with ``sigtimedwait`` and no
    handler: a stop cannot be missed, whatever this process is doing when it comes."""
    connections.close_all()  # children open their own
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    runs = {"server": web} if scheduler is None else {"server": web, "scheduler": scheduler}
    roles: dict[int, str] = {}

    def spawn(role: str) -> None:
        # Unflushed output would be written once by this process and again by the child.
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
                runs[role]()
                code = 0
            except BaseException:
                traceback.print_exc()  # (os._exit would drop it unsaid)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        roles[pid] = role

    for _ in range(processes):
        spawn("server")
    if "scheduler" in runs:
        spawn("scheduler")
    signum = _supervise(roles, spawn, stop)
    sys.stdout.write(
        f"{signal.Signals(signum).name}: stopping {len(roles)} processes "
        f"(at most {CHILD_STOP_SECONDS} s).\n"
    )
    sys.stdout.flush()
    _stop_children(roles)


def _supervise(roles: dict[int, str], spawn: Callable[[str], None], stop: _StopFlag) -> int:
    """Wait for SIGTERM or SIGINT and return it; meanwhile, restart a child that exits (a
    second later, so that one that cannot start does not spin)."""
    restarts: list[tuple[float, str]] = []
    while True:
        # At most a second: a restart may be due, and exits are reaped whatever the signal
        # said (several children exiting at once may make a single SIGCHLD).
        info = signal.sigtimedwait(stop.signals | {signal.SIGCHLD}, 1.0)
        if info is not None and info.si_signo in stop.signals:
            return info.si_signo
        for pid, status in _reaped():
            role = roles.pop(pid, None)
            if role is not None:
                sys.stderr.write(f"{role} process {pid} exited ({status}); starting another\n")
                restarts.append((time.monotonic() + 1, role))
        now = time.monotonic()
        for due, role in [r for r in restarts if r[0] <= now]:
            restarts.remove((due, role))
            spawn(role)


def _reaped() -> Iterator[tuple[int, int]]:
    """The children that have exited, without waiting."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, status


def _stop_children(roles: dict[int, str]) -> None:
    """SIGTERM to every child, then reap them; one still running after CHILD_STOP_SECONDS
    (a request or a task that does not finish) is killed, and the log says which."""
    for pid in roles:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + CHILD_STOP_SECONDS
    while roles:
        for pid, _status in _reaped():
            roles.pop(pid, None)
        left = deadline - time.monotonic()
        if roles and left <= 0:
            for pid, role in roles.items():
                sys.stderr.write(
                    f"{role} process {pid} still running {CHILD_STOP_SECONDS} s after "
                    "SIGTERM; killed\n"
                )
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            for pid in roles:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
            return
        if roles:
            signal.sigtimedwait({signal.SIGCHLD}, min(left, 0.5))

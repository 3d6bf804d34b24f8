"""``manage.py serve``: the web server, with the embedded scheduler when there is no broker."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import sys
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import waitress
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.core.wsgi import get_wsgi_application
from django.db import connections

from batchwatch.core import startup
from batchwatch.core.heap import freeze_startup_heap
from batchwatch.core.scheduler import EmbeddedScheduler


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
        # What the apps do as the server starts (runbooks: load runbooks/*.md).
        startup.run_all(now=datetime.now(UTC), stdout=self.stdout, stderr=self.stderr)
        scheduler = None
        if settings.BATCHWATCH_EMBEDDED and not no_scheduler:
            scheduler = EmbeddedScheduler(tick_seconds=settings.BATCHWATCH_SCHEDULER_TICK_SECONDS)
            scheduler.start()
            self.stdout.write("Embedded scheduler started.")
        # `docker stop` and process managers send SIGTERM: stop as gracefully as on Ctrl-C.
        signal.signal(signal.SIGTERM, _interrupt)
        freeze_startup_heap()  # (before forking: the children share those pages)
        self.stdout.write(self.style.SUCCESS(f"Batchwatch is serving at {url}  (Ctrl-C stops)"))
        try:
            if processes == 1:
                waitress.serve(application, sockets=[listener], threads=threads, _quiet=True)
            else:
                self.stdout.write(f"{processes} server processes, {threads} threads each.")
                _serve_forked(application, listener, threads, processes)
        finally:
            listener.close()
            if scheduler is not None:
                scheduler.stop()
                self.stdout.write("Embedded scheduler stopped.")


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


def _interrupt(signum, frame):
    # Once: a second SIGTERM (process managers and `timeout` may signal the whole group)
    # must not interrupt the graceful stop the first one began.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def _serve_forked(application, listener: socket.socket, threads: int, processes: int) -> None:
    """Pre-fork: bound once, then ``processes`` children serve the same socket (the kernel
    spreads connections), each with its own threads and database connections. The parent
    keeps the embedded scheduler (so it runs once), restarts a child that dies, and stops
    them all on Ctrl-C or SIGTERM."""
    connections.close_all()  # children open their own

    def spawn() -> int:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            try:
                waitress.serve(application, sockets=[listener], threads=threads, _quiet=True)
            finally:
                os._exit(0)
        return pid

    children = {spawn() for _ in range(processes)}
    try:
        while True:
            pid, status = os.waitpid(-1, 0)
            if pid in children:
                children.discard(pid)
                sys.stderr.write(f"server process {pid} exited ({status}); starting another\n")
                time.sleep(1)
                children.add(spawn())
    except KeyboardInterrupt:
        pass
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)

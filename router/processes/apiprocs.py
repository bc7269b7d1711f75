"""`router api --processes N`: N uvicorn servers, each on a listening socket of its own
(SO_REUSEPORT), so that the kernel spreads the connections over them.

uvicorn's own workers share one listening socket, and the process that wakes first
accepts every connection waiting (uvloop accepts until none is left). Under the bench's
16 keep-alive connections, one of two processes got all of them in about half the runs
(8.7 CPU-s against 0.9; 6,600 requests/s against 9,700), and a deployment whose
clients keep their connections open has the same skew. With a socket each, Linux picks
the socket of a new connection by a hash of its addresses.

Before they start, the port is bound without SO_REUSEPORT and let go
(router.processes.port.require_free): a second router started on a port in use then
fails at once, rather than joining the first one's group and taking half its
connections.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
import time
from multiprocessing.process import BaseProcess

from router.processes.port import listening_socket

log = logging.getLogger("router")
_STARTED_S = 10.0
"""A process that stops sooner than this after its start is not started again."""


def _serve(host: str, port: int) -> None:
    """One api process (spawned): its own socket, its app from the environment."""
    import uvicorn

    from router.processes.serve import api_from_environment, uvicorn_config

    config = uvicorn_config(api_from_environment, host, port, factory=True)
    uvicorn.Server(config).run(sockets=[listening_socket(host, port, reuse_port=True)])


def supervise(host: str, port: int, processes: int) -> None:
    """Start `processes` api processes and keep them running until SIGINT or SIGTERM,
    which each of them gets too (uvicorn finishes the requests in hand). One that stops
    is started again, unless it stopped right after its start."""
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def start() -> tuple[BaseProcess, float]:
        process = context.Process(target=_serve, args=(host, port), name="router-api")
        process.start()
        return process, time.monotonic()

    running = [start() for _ in range(processes)]
    failed = ""
    while not stop.wait(0.5):
        for index, (process, started) in enumerate(running):
            if process.is_alive():
                continue
            if time.monotonic() - started < _STARTED_S:
                failed = f"an api process stopped at its start (exit code {process.exitcode})"
                stop.set()
                break
            log.warning("api: a process stopped (exit code %s); starting another", process.exitcode)
            running[index] = start()
    for process, _ in running:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn's graceful shutdown
    for process, _ in running:
        process.join(30)
        if process.is_alive():
            process.kill()
    if failed:
        raise SystemExit(f"error: {failed}")

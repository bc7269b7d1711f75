"""The long-running processes: api, worker, scheduler, and `up` for all three at once."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import redis

from router.config.load import load_rules
from router.config.redis_url import describe, is_sentinel
from router.config.settings import Settings, load_settings
from router.processes import handover, heap
from router.processes.apiprocs import supervise
from router.processes.handover import client_url
from router.processes.port import PortTaken, require_free
from router.processes.scheduler import Scheduler
from router.processes.worker import create_celery
from router.queue.tasks import QUEUES
from router.service.runtime import Runtime, build_runtime
from router.state import connect
from router.state.publish import redis_sender
from router.state.store import persistence_warning

log = logging.getLogger("router")


def _warn_if_not_persistent(runtime: Runtime) -> None:
    try:
        warning = persistence_warning(runtime.redis)
    except redis.RedisError as error:
        log.warning("could not read Redis's persistence settings: %s", error)
        return
    if warning:
        log.warning("%s; turn on appendonly yes", warning)


def _check_routing_keys(runtime: Runtime) -> None:
    known = {integration.name for integration in runtime.rules.routing.integrations}
    unknown = sorted(set(runtime.settings.routing_keys) - known)
    if unknown:
        raise SystemExit(
            f"error: ROUTER_ROUTING_KEYS names {', '.join(unknown)}, not an integration "
            f"in rules/routing.yaml (known: {', '.join(sorted(known))})"
        )


def _require_secret(settings: Settings) -> None:
    if len(settings.secret_key.get_secret_value()) < 16:
        raise SystemExit(
            "error: ROUTER_SECRET_KEY must be at least 16 characters: it signs "
            "the acknowledge links in emails"
        )


def serve_api(settings: Settings, host: str, port: int, processes: int = 1) -> None:
    """One process, or `processes` uvicorn servers, each on a socket of its own
    (router.processes.apiprocs; each builds its app from the environment:
    api_from_environment)."""
    import uvicorn

    from router.api.app import create_api

    if not settings.api_tokens:
        raise SystemExit("error: ROUTER_API_TOKENS is empty: set at least one bearer token")
    _require_secret(settings)
    _require_port(host, port)
    runtime = build_runtime(settings)
    _check_routing_keys(runtime)
    _warn_if_not_persistent(runtime)
    if processes > 1:  # each serving process watches for itself
        log.info("api: %d processes on %s:%d", processes, host, port)
        try:
            supervise(host, port, processes)
        except OSError as error:
            raise SystemExit(f"error: cannot listen on {host}:{port}: {error.strerror}") from None
        return
    config = uvicorn_config(create_api(runtime.watched("api")), host, port)
    heap.settle()
    uvicorn.Server(config).run()


def _require_port(host: str, port: int) -> None:
    try:
        require_free(host, port)
    except PortTaken as taken:
        raise SystemExit(f"error: {taken}") from None


def api_from_environment() -> Any:
    """The app of one api process of several (router.processes.apiprocs)."""
    from router.api.app import create_api

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_api(build_runtime(load_settings()).watched("api"))
    heap.settle()
    return app


def uvicorn_config(app: Any, host: str, port: int, **more: Any) -> Any:
    """uvicorn as the router runs it. Its access log would print whole query strings
    (email-link tokens): router.api.middleware logs each request without them. Logging
    is the process's own (no dictConfig of uvicorn's)."""
    import uvicorn

    return uvicorn.Config(app, **_uvicorn_options(host, port), **more)


def _uvicorn_options(host: str, port: int) -> dict[str, Any]:
    return {"host": host, "port": port, "access_log": False, "log_config": None}


def run_worker(settings: Settings, concurrency: int, queues: tuple[str, ...] = QUEUES) -> None:
    _require_secret(settings)
    celery = create_celery(
        lambda: build_runtime(settings).watched("worker"),
        settings.redis_url,
        settings.redeliver_after_s,
        built=heap.settle,  # in each pool process, once it has its runtime
    )
    celery.worker_main(
        [
            "worker",
            "--loglevel=INFO",
            f"--concurrency={concurrency}",
            f"--queues={','.join(queues)}",
            "--without-gossip",
            "--without-mingle",
        ]
    )


def run_scheduler(settings: Settings) -> None:
    runtime = build_runtime(settings).watched("scheduler")
    _warn_if_not_persistent(runtime)
    scheduler = Scheduler(runtime, redis_sender(runtime.redis))
    heap.settle()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    log.info("scheduler: ticking every %ss", settings.scheduler_tick_s)
    scheduler.run(stop)


def _redis_answers(url: str) -> bool:
    probe = connect.client(url, socket_connect_timeout=1)
    try:
        return bool(probe.ping())
    except redis.RedisError:
        return False
    finally:
        probe.close()


def _private_redis(settings: Settings) -> subprocess.Popen[bytes] | None:
    if _redis_answers(settings.redis_url):
        return None
    if is_sentinel(settings.redis_url):
        raise SystemExit(f"error: nothing answers as {describe(settings.redis_url)}")
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit(
            f"error: nothing answers at REDIS_URL={settings.redis_url} "
            "and redis-server is not on the PATH"
        )
    port = urlparse(settings.redis_url).port or 6379
    data = Path("var/redis").resolve()
    data.mkdir(parents=True, exist_ok=True)
    print(f"up: starting a private redis-server on 127.0.0.1:{port} (data in {data})", flush=True)
    process = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data),
            "--appendonly",
            "yes",
            "--save",
            "",
        ]
    )
    for _ in range(50):
        if _redis_answers(settings.redis_url):
            return process
        time.sleep(0.1)
    process.terminate()
    raise SystemExit("error: the private redis-server did not start")


def up(settings: Settings, host: str, port: int, api_processes: int = 2) -> None:
    """`api_processes`: two by default, so a P1's POST does not wait in one event loop
    behind a storm's big requests (docs/performance.md). Nothing starts when the port is
    taken (a second `router up`, say): one line says by what."""
    _require_port(host, port)
    env: dict[str, Any] = dict(os.environ)
    from router.api.auth import token_parts

    token = token_parts(settings.api_tokens[0].get_secret_value())[1] if settings.api_tokens else ""
    if not token:
        token = env["ROUTER_API_TOKENS"] = secrets.token_urlsafe(24)
        print(f"up: ROUTER_API_TOKENS is not set; this run accepts the token {token}", flush=True)
    secret_key = settings.secret_key.get_secret_value()
    if not secret_key:
        secret_key = env["ROUTER_SECRET_KEY"] = secrets.token_urlsafe(32)
        print(
            "up: ROUTER_SECRET_KEY is not set; email links of this run stop working when it ends",
            flush=True,
        )
    routing_keys = {name: key.get_secret_value() for name, key in settings.routing_keys.items()}
    if not routing_keys:
        integrations = load_rules(settings.rules_dir).routing.integrations
        routing_keys = {integration.name: secrets.token_hex(16) for integration in integrations}
        env["ROUTER_ROUTING_KEYS"] = ",".join(f"{n}={k}" for n, k in routing_keys.items())
        print("up: ROUTER_ROUTING_KEYS is not set; this run makes a key an integration", flush=True)
    public_url = env.setdefault("ROUTER_PUBLIC_URL", client_url(host, port))  # links to this run
    private = _private_redis(settings)
    handed = handover.write(
        handover.Handover(public_url, settings.redis_url, token, secret_key, routing_keys)
    )
    print(
        f"up: in a second terminal, `. {handed}` sets this run's address, token and keys",
        flush=True,
    )
    me = [sys.executable, "-m", "router"]
    # Lanes (router.queue.tasks): a hanging mail server never holds up a fold, and a P1
    # never waits for a storm's batch a fold worker has in hand, nor for a core.
    commands = {
        "api": ["api", "--host", host, "--port", str(port), "--processes", str(api_processes)],
        "ingest worker": ["worker", "--lane", "ingest"],
        "urgent worker": ["worker", "--lane", "urgent", "--concurrency", "1"],
        "deliver worker": ["worker", "--lane", "deliver"],
        "scheduler": ["scheduler"],
    }
    children = {name: subprocess.Popen([*me, *words], env=env) for name, words in commands.items()}
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(
        f"up: api on http://{host}:{port} (docs at /docs), workers (ingest, urgent, deliver) and "
        "scheduler running; "
        "Ctrl-C stops all",
        flush=True,
    )
    while not stop.is_set() and all(child.poll() is None for child in children.values()):
        stop.wait(0.5)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children.values():
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
    handed.unlink(missing_ok=True)
    if private is not None:
        private.terminate()
        private.wait(timeout=10)
    failed = [
        f"the {name} process exited with code {child.returncode}"
        for name, child in children.items()
        if child.returncode not in (0, -signal.SIGTERM, None)
    ]
    if failed and not stop.is_set():  # each child said why on its own line above
        raise SystemExit(f"error: {'; '.join(failed)}; the others were stopped")

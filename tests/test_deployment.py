"""docker-compose.yml, checked without a Docker engine: it parses, its commands are real
`router` commands, and its environment names are settings the router reads."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from router.config.redis_url import sentinels_of
from router.config.settings import Settings
from router.core.message import OutgoingMessage
from router.delivery.mail.backends.outbox import OutboxBackend
from router.queue.tasks import DELIVER_QUEUE, LANES, QUEUES, URGENT_QUEUE
from tests.deployment import Deployment
from tests.redis_server import RedisServer
from tests.stack import folded_ids, free_port, wait_until
from tests.support import RULES_DIR

ROOT = RULES_DIR.parent


ROUTER_SERVICES = ("api", "worker", "worker-urgent", "worker-deliver", "scheduler")


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return data


def test_services_and_redis_persistence() -> None:
    services = _compose()["services"]
    assert set(services) == {
        "redis",
        "api",
        "worker",
        "worker-urgent",
        "worker-deliver",
        "scheduler",
    }
    redis = services["redis"]
    assert "--appendonly" in redis["command"] and redis["healthcheck"]["test"]
    for name in ROUTER_SERVICES:
        assert services[name]["build"] == "."
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_each_command_is_a_real_router_command() -> None:
    for name in ROUTER_SERVICES:
        program, command, *options = _compose()["services"][name]["command"]
        assert program == "router"
        done = subprocess.run(
            [sys.executable, "-m", "router", command, "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        for option in options:
            if option.startswith("--"):
                assert option in done.stdout, (name, option)


def test_environment_names_are_settings() -> None:
    known = {field.alias for field in Settings.model_fields.values()}
    for name in ROUTER_SERVICES:
        assert set(_compose()["services"][name]["environment"]) <= known


def test_dockerfile_copies_what_the_image_needs() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for needed in ("COPY router", "COPY rules", "COPY templates", "pip install"):
        assert needed in dockerfile


def _writes_as_nobody(outbox: Path) -> bool:
    """The outbox backend writing one email as the image's user, as the worker would: a
    forked child drops to `nobody` and sends."""
    nobody = pwd.getpwnam("nobody")
    message = OutgoingMessage(
        idempotency_key="k", kind="page", to=["a@example.com"], subject="s", text="t", html="h"
    )
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit code
        try:
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            OutboxBackend(outbox).send(message, "r@example.com", datetime.now(UTC))
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status) == 0


def test_the_outbox_volume_is_writable_by_the_image_user() -> None:
    """What compose sets up: a named volume at /var/outbox takes the ownership of the
    image's directory there, and the image runs as `nobody`."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "RUN mkdir -p /var/outbox && chown nobody:nogroup /var/outbox" in dockerfile
    assert dockerfile.index("chown nobody") < dockerfile.index("USER nobody")
    worker = _compose()["services"]["worker"]
    assert "outbox:/var/outbox" in worker["volumes"]
    assert worker["environment"]["ROUTER_OUTBOX_DIR"] == "/var/outbox"
    if os.geteuid() != 0:
        pytest.skip("needs root to act as nobody")
    root = Path(tempfile.mkdtemp(prefix="ar-volume-"))
    try:
        root.chmod(0o755)
        nobody = pwd.getpwnam("nobody")
        for owner, works in ((nobody.pw_uid, True), (0, False)):  # as built, and as before
            volume = root / f"outbox-{owner}"
            volume.mkdir()
            os.chown(volume, owner, nobody.pw_gid if owner else 0)
            assert _writes_as_nobody(volume) is works
            assert bool(list(volume.glob("*.eml"))) is works
    finally:
        shutil.rmtree(root)


def test_every_queue_has_a_worker_and_delivery_a_lane_of_its_own() -> None:
    """A worker that delivers takes nothing else: a hanging mail server holds up no fold."""
    lanes: dict[str, tuple[str, ...]] = {}
    for name, service in _compose()["services"].items():
        command = service.get("command", [])
        if command[:2] == ["router", "worker"]:
            lanes[name] = LANES[command[command.index("--lane") + 1]]
    assert set().union(*lanes.values()) == set(QUEUES)
    delivering = [name for name, queues in lanes.items() if DELIVER_QUEUE in queues]
    assert delivering and all(lanes[name] == (DELIVER_QUEUE,) for name in delivering)
    # P1 batches are folded by the urgent worker alone: never in the niced bulk worker,
    # and a burst's batches of one pipeline never race each other's WATCH.
    assert [name for name, queues in lanes.items() if URGENT_QUEUE in queues] == ["worker-urgent"]


def _sentinel_override() -> dict[str, Any]:
    text = (ROOT / "docker-compose.sentinel.yml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _redis_option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_sentinel_override_points_every_router_process_at_three_sentinels() -> None:
    services = _sentinel_override()["services"]
    sentinels = sorted(name for name in services if name.startswith("sentinel-"))
    assert sentinels == ["sentinel-1", "sentinel-2", "sentinel-3"]
    for name in ROUTER_SERVICES:
        env = services[name]["environment"]
        where = sentinels_of(env["REDIS_URL"])
        assert sorted(host for host, _ in where.hosts) == sentinels and where.service == "mymaster"
        assert int(env["ROUTER_REDIS_MIN_REPLICAS"]) >= 1
        assert set(env) <= {f.alias for f in Settings.model_fields.values() if f.alias}
    for name in ("redis", "redis-2", "redis-3"):
        command = services[name]["command"]
        assert int(_redis_option(command, "--min-replicas-to-write")) >= 1
    for name in ("redis-2", "redis-3"):
        assert services[name]["command"][-3:] == ["--replicaof", "redis", "6379"]
    script = services["sentinel-1"]["command"][-1]
    assert "sentinel monitor mymaster redis 6379 2" in script  # a quorum of two of three


def test_a_master_with_the_shipped_settings_refuses_writes_without_a_replica(
    tmp_path: Path,
) -> None:
    """The override's redis-server options on a master of the test's own (a lag bound of
    1 s rather than 5, to keep it short): it takes writes while a replica follows it, and
    refuses them (NOREPLICAS) once none does, so nothing it accepts is lost to a failover."""
    shipped = _sentinel_override()["services"]["redis"]["command"][1:]
    options = [*shipped, "--repl-diskless-sync-delay", "0"]
    options[options.index("--min-replicas-max-lag") + 1] = "1"
    master = RedisServer(tmp_path / "master", None, *options)
    # the master refuses writes until a replica follows it: started before the replica's
    master.start()
    replica = RedisServer(
        tmp_path / "replica",
        None,
        "--replicaof", "127.0.0.1", str(master.port),
        "--appendonly", "no",  # a replica writing its first AOF refuses SIGTERM
    ).start()  # fmt: skip
    client = master.client()
    try:
        wait_until(lambda: _writes(client), 30, "a write once the replica follows")
        replica.stop()
        wait_until(lambda: not _writes(client), 30, "NOREPLICAS once it is gone")
    finally:
        client.close()
        replica.stop()
        master.stop()


def test_a_worker_outlives_a_master_that_refuses_writes_for_now(tmp_path: Path) -> None:
    """Right after a failover the new master has no replica yet and, with the shipped
    `min-replicas-to-write 1`, refuses every write: the workers' BRPOP too (NOREPLICAS).
    kombu counts that a channel error, and Celery stopped the worker for good at it
    (the failover soak lost both workers so). Now the worker connects again until the
    master takes writes, and folds the next event."""
    master = RedisServer(
        tmp_path / "master", None, "--min-replicas-to-write", "1", "--repl-diskless-sync-delay", "0"
    ).start()
    replica = _replica_of(tmp_path / "replica", master)
    deployment = Deployment(tmp_path, master, free_port())
    try:
        deployment.api()
        worker = deployment.worker(concurrency=1, lane="fold")
        client = master.client()
        wait_until(lambda: _writes(client), 30, "a replica that follows")
        first = deployment.post("/v1/events", _p4("before")).json()["events"][0]["event_id"]
        wait_until(lambda: first in folded_ids(client), 30, "the first event folded")
        replica.stop()
        wait_until(lambda: not _writes(client), 30, "NOREPLICAS once it is gone")
        wait_until(lambda: _refused(client, "brpop"), 30, "the worker's BRPOP refused")
        replica = _replica_of(tmp_path / "replica", master)
        wait_until(lambda: _writes(client), 30, "the replica back")
        log = tmp_path / f"worker-{deployment.processes.index(worker)}.log"
        assert worker.poll() is None, log.read_text()[-3000:]
        second = deployment.post("/v1/events", _p4("after")).json()["events"][0]["event_id"]
        wait_until(lambda: second in folded_ids(client), 30, "the next event folded")
        client.close()
    finally:
        deployment.stop()
        replica.stop()
        master.stop()


def _refused(client: redis.Redis, command: str) -> bool:
    """Redis refused `command` at least once (Redis 7 counts it per command)."""
    stats = client.info("commandstats").get(f"cmdstat_{command}", {})
    return int(stats.get("rejected_calls", 0)) > 0


def _replica_of(directory: Path, master: RedisServer) -> RedisServer:
    return RedisServer(
        directory,
        None,
        "--replicaof", "127.0.0.1", str(master.port),
        "--appendonly", "no",  # a replica writing its first AOF refuses SIGTERM
    ).start()  # fmt: skip


def _p4(tag: str) -> dict[str, str]:
    return {
        "pipeline": "engagement.aggregate",
        "type": "job_failed",
        "severity": "P4",
        "dedup_key": tag,
        "summary": "recorded, never pages",
    }


def _writes(client: redis.Redis) -> bool:
    try:
        client.set("probe", "1")
    except redis.ResponseError as error:
        assert str(error).startswith("NOREPLICAS"), error
        return False
    return True

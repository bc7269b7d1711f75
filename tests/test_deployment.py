"""docker-compose.yml, checked without a Docker engine: it parses, its commands are real
`router` commands, and its environment names are settings the router reads."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import yaml

from router.settings import Settings
from tests.support import RULES_DIR

ROOT = RULES_DIR.parent


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return data


def test_services_and_redis_persistence() -> None:
    services = _compose()["services"]
    assert set(services) == {"redis", "api", "worker", "scheduler"}
    redis = services["redis"]
    assert "--appendonly" in redis["command"] and redis["healthcheck"]["test"]
    for name in ("api", "worker", "scheduler"):
        assert services[name]["build"] == "."
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_each_command_is_a_real_router_command() -> None:
    for name in ("api", "worker", "scheduler"):
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
    for name in ("api", "worker", "scheduler"):
        assert set(_compose()["services"][name]["environment"]) <= known


def test_dockerfile_copies_what_the_image_needs() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for needed in ("COPY router", "COPY rules", "COPY templates", "pip install"):
        assert needed in dockerfile

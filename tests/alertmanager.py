"""A real Prometheus Alertmanager (Debian's prometheus-alertmanager) on loopback, for the
webhook test and the benchmarks."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.stack import free_port, wait_until

BINARY = "prometheus-alertmanager"


def installed() -> bool:
    return shutil.which(BINARY) is not None


@contextmanager
def running_alertmanager(directory: Path, config: str) -> Iterator[str]:
    """Alertmanager with `config` (YAML); yields its base URL."""
    binary = shutil.which(BINARY)
    assert binary, f"{BINARY} is not installed (.ci/run installs it with apt-get)"
    port = free_port()
    (directory / "alertmanager.yml").write_text(config, encoding="utf-8")
    url = f"http://127.0.0.1:{port}"
    with (directory / "alertmanager.log").open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={directory / 'alertmanager.yml'}",
                f"--storage.path={directory / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        wait_until(lambda: _ready(url), timeout_s=30, what="Alertmanager to start")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False

"""A newcomer's first mistakes, each answered in one line: a second `router up` on a
port in use, and what holds the port."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from router.processes.port import PortTaken, holder_of, listening_socket, require_free
from tests.redis_server import session_redis
from tests.stack import TOKEN, free_port
from tests.support import RULES_DIR, without_deadlines
from tests.test_processes import router_up


def test_a_second_router_up_on_a_taken_port_says_who_holds_it_and_starts_nothing(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": session_redis().url(7),
        "ROUTER_API_TOKENS": TOKEN,
        "ROUTER_SECRET_KEY": "process-test-secret-key",
        "ROUTER_RULES_DIR": str(without_deadlines(RULES_DIR, tmp_path / "rules")),
        "ROUTER_OUTBOX_DIR": str(tmp_path / "outbox"),
    }
    # the port is held once an api process listens on it: no need to wait for more
    with router_up(tmp_path, port, env, serving=lambda _: holder_of(port)):
        second = subprocess.run(
            [sys.executable, "-m", "router", "up", "--port", str(port)],
            cwd=tmp_path,
            env={**env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"},  # none answers
            capture_output=True,
            text=True,
            timeout=60,
        )
        said = (second.stdout + second.stderr).strip().splitlines()
        assert second.returncode == 1, said
        (line,) = said  # one line, and no private Redis or process was started before it
        assert line.startswith(f"error: port {port} on 127.0.0.1 is in use by another router")
        assert f"`router up --port {port}`" in line
        assert holder_of(port)  # the first one still serves
    session_redis().client(7).flushdb()


def test_the_holder_of_a_port_is_named_from_proc() -> None:
    held = listening_socket("127.0.0.1", 0, reuse_port=False)
    port = held.getsockname()[1]
    try:
        holder = holder_of(port)
        assert holder is not None and holder.startswith(f"pid {os.getpid()} (`")
        with pytest.raises(PortTaken, match=f"port {port} on 127.0.0.1 is in use by pid"):
            require_free("127.0.0.1", port)
    finally:
        held.close()
    require_free("127.0.0.1", port)  # let go: free again
    assert holder_of(port) is None

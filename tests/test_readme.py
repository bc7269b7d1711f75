"""The README's walk-through, run as a reader pastes it: its run command in a first
terminal (`router up`, started here on a free port with a Redis of the test's), then each
shell block of "Trying it out", in order, in one bash session of a second terminal that
has none of the router's settings. Every block must succeed, so the README cannot drift
from what the router does."""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.redis_server import session_redis
from tests.stack import free_port, wait_until
from tests.support import RULES_DIR, without_deadlines
from tests.test_processes import router_up

ROOT = RULES_DIR.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DB = 10


def _section(heading: str) -> str:
    start = README.index(f"\n## {heading}\n")
    following = README.find("\n## ", start + 1)
    return README[start : following if following > 0 else None]


def _shell_blocks(section: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


def test_the_run_command_ends_with_router_up() -> None:
    (block,) = _shell_blocks(_section("Two commands"))
    commands = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert commands[0].endswith("&& .venv/bin/router up"), commands


def _a_fresh_terminal() -> dict[str, str]:
    """The test's environment without the router's settings, as a new terminal has."""
    ours = ("ROUTER_", "REDIS_URL")
    return {name: value for name, value in os.environ.items() if not name.startswith(ours)}


def test_the_walk_through_runs_as_written(tmp_path: Path) -> None:
    session_redis().client(DB).flushdb()
    # The folder the reader works in: the repo's virtualenv and examples; the rules
    # without deadlines, which on the real clock could open incidents of their own.
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    without_deadlines(RULES_DIR, tmp_path / "rules")
    port = free_port()
    first_terminal = {**_a_fresh_terminal(), "REDIS_URL": session_redis().url(DB)}
    blocks = _shell_blocks(_section("Trying it out"))
    assert len(blocks) >= 3 and ". var/up.env" in blocks[0]
    with router_up(tmp_path, port, first_terminal):
        pasted = subprocess.run(
            ["bash", "-e", "-o", "pipefail"],
            input="\n".join(blocks),
            cwd=tmp_path,
            env=_a_fresh_terminal(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        said = pasted.stdout
        assert pasted.returncode == 0, f"{said}\n{pasted.stderr}"
        assert '"status":"accepted"' in said.replace(" ", "")
        for status in ("acknowledged", "resolved"):
            assert f'"status":"{status}"' in said.replace(" ", ""), said
        assert '"dedup_key":"agg-2026-11-25"' in said.replace(" ", "")  # /v2/enqueue
        link = re.search(rf"http://127\.0\.0\.1:{port}/login/link\?token=\S+", said)
        assert link, said  # router login-link, against this run's Redis and secret
        assert '"decision": "defer"' in said  # router simulate

        def page_email() -> list[str]:
            subjects = []
            for path in (tmp_path / "var" / "outbox").glob("*.eml"):
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                subjects.append(" ".join(str(message["Subject"]).split()))
            wanted = "[P2] Unit-level profit: Unit-level profit for 2026-11-25 not landed by 19:00"
            return [s for s in subjects if s == wanted]

        wait_until(page_email, what="the page email in var/outbox")
    assert not (tmp_path / "var" / "up.env").exists()  # gone with the run
    session_redis().client(DB).flushdb()

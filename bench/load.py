"""Load generators: wrk when installed (a Lua script posts one fixed body, read from a
file), else a small asyncio + httpx loop. Both report requests per second; loopback only,
bounded in time."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

CONNECTIONS = 16


@dataclass(frozen=True)
class LoadResult:
    tool: str
    requests_per_s: float
    non_2xx: int
    errors: int
    """Requests that got no answer (connect, read or write errors, timeouts)."""
    requests: int


def post_load(
    url: str, body: bytes, headers: dict[str, str], seconds: float, connections: int = CONNECTIONS
) -> LoadResult:
    if shutil.which("wrk"):
        return _wrk(url, body, headers, seconds, connections)
    return asyncio.run(_python(url, body, headers, seconds, connections))


def _wrk(
    url: str, body: bytes, headers: dict[str, str], seconds: float, connections: int
) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="ar-wrk-") as scratch:
        # The body from a file: a Lua string literal of a 60 KB JSON body would need
        # escapes that LuaJIT and JSON do not share.
        body_file = Path(scratch) / "body.json"
        body_file.write_bytes(body)
        lines = [
            'wrk.method = "POST"',
            f"local body = assert(io.open({json.dumps(str(body_file))}, 'rb'))",
            "wrk.body = body:read('*a')",
            "body:close()",
        ]
        for name, value in {**headers, "Content-Type": "application/json"}.items():
            lines.append(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}")
        script = Path(scratch) / "post.lua"
        script.write_text("\n".join(lines) + "\n")
        done = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", str(script),
             url],
            capture_output=True, text=True, check=True, timeout=seconds + 60,
        )  # fmt: skip
    rate = float(_found(r"Requests/sec:\s+([\d.]+)", done.stdout))
    total = int(_found(r"(\d+) requests in", done.stdout))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", done.stdout)
    failed = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", done.stdout
    )
    errors = sum(int(n) for n in failed.groups()) if failed else 0
    return LoadResult("wrk", rate, int(bad.group(1)) if bad else 0, errors, total)


def _found(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"bench: wrk printed no {pattern!r}:\n{text}")
    return found.group(1)


async def _python(
    url: str, body: bytes, headers: dict[str, str], seconds: float, connections: int
) -> LoadResult:
    sent = bad = errors = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def one_connection() -> None:
            nonlocal sent, bad, errors
            while time.monotonic() < deadline:
                try:
                    answer = await client.post(
                        url, content=body, headers={**headers, "Content-Type": "application/json"}
                    )
                except httpx.HTTPError:
                    errors += 1
                    continue
                sent += 1
                bad += answer.status_code >= 300

        started = time.monotonic()
        await asyncio.gather(*(one_connection() for _ in range(connections)))
        took = time.monotonic() - started
    return LoadResult("python", sent / took, bad, errors, sent)

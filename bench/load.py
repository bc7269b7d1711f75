"""Load generators: wrk when installed (a Lua script posts one fixed body), else a small
asyncio + httpx loop. Both report requests per second; loopback only, bounded in time."""

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
from typing import Any

import httpx


@dataclass(frozen=True)
class LoadResult:
    tool: str
    requests_per_s: float
    non_2xx: int
    requests: int


def post_load(
    url: str, body: Any, headers: dict[str, str], seconds: float, connections: int = 16
) -> LoadResult:
    if shutil.which("wrk"):
        return _wrk(url, body, headers, seconds, connections)
    return asyncio.run(_python(url, body, headers, seconds, connections))


def _wrk(
    url: str, body: Any, headers: dict[str, str], seconds: float, connections: int
) -> LoadResult:
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(json.dumps(body))}"]
    for name, value in {**headers, "Content-Type": "application/json"}.items():
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    try:
        done = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 30,
        )
    finally:
        Path(script.name).unlink()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", done.stdout).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", done.stdout)
    return LoadResult("wrk", rate, int(bad.group(1)) if bad else 0, total)


async def _python(
    url: str, body: Any, headers: dict[str, str], seconds: float, connections: int
) -> LoadResult:
    raw = json.dumps(body).encode()
    sent = bad = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def one_connection() -> None:
            nonlocal sent, bad
            while time.monotonic() < deadline:
                answer = await client.post(
                    url, content=raw, headers={**headers, "Content-Type": "application/json"}
                )
                sent += 1
                bad += answer.status_code >= 300

        started = time.monotonic()
        await asyncio.gather(*(one_connection() for _ in range(connections)))
        took = time.monotonic() - started
    return LoadResult("python", sent / took, bad, sent)

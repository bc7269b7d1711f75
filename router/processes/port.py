"""Is the API's port free, and if not, who holds it: checked before `router up` or
`router api` starts anything, so a second router says so in one line instead of
starting its workers and then failing on the port."""

from __future__ import annotations

import os
import socket
from pathlib import Path

_LISTEN = "0A"  # the state column of /proc/net/tcp for a listening socket


class PortTaken(Exception):
    """The port is in use; the message says by what, in words."""


def listening_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    """A socket bound to host:port and listening (OSError if it cannot be)."""
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((str(address[0]), int(address[1]), *address[2:]))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)  # uvicorn's backlog
    return sock


def require_free(host: str, port: int) -> None:
    """Raise PortTaken, naming what holds the port, if host:port cannot be listened on.
    Bound without SO_REUSEPORT: a router listening there with it still refuses us."""
    try:
        listening_socket(host, port, reuse_port=False).close()
    except OSError as error:
        holder = holder_of(port)
        said = f"by {holder}" if holder else f"({error.strerror})"
        raise PortTaken(f"port {port} on {host} is in use {said}") from None


def holder_of(port: int, proc: Path = Path("/proc")) -> str | None:
    """The process listening on TCP `port`, in words ("another router (pid 12, `router
    up --port 8080`)"), read from /proc; None where /proc does not say (another user's
    process, not Linux)."""
    inodes = _listening_inodes(port, proc)
    if not inodes:
        return None
    sockets = {f"socket:[{inode}]" for inode in inodes}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        if _links(entry / "fd") & sockets:
            return _described(int(entry.name), proc)
    return None


def _links(fds: Path) -> set[str]:
    """What a process's descriptors point at; what vanishes meanwhile (the directory's
    own, while it is read) or is not ours to read is left out."""
    try:
        entries = list(fds.iterdir())
    except OSError:
        return set()
    links = set()
    for fd in entries:
        try:
            links.add(os.readlink(fd))
        except OSError:
            continue
    return links


def _listening_inodes(port: int, proc: Path) -> set[str]:
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == _LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def _described(pid: int, proc: Path) -> str:
    """The process in words: the outermost router among it and its parents (a `router
    up`'s api processes are spawned children of `router api`), else its command."""
    described, seen = None, pid
    while seen > 1:
        command = _command(seen, proc)
        if command is None:
            break
        if "router" in command:  # python -m router …: the words from it on
            said = " ".join(command[command.index("router") :])
            described = f"another router (pid {seen}, `{said}`)"
        elif described is None and seen == pid:
            described = f"pid {pid} (`{' '.join(command)[:80]}`)"
        seen = _parent(seen, proc)
    return described or f"process {pid}"


def _command(pid: int, proc: Path) -> list[str] | None:
    try:
        words = (proc / str(pid) / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError:
        return None
    return [word.decode(errors="replace") for word in words]


def _parent(pid: int, proc: Path) -> int:
    try:
        return int((proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0

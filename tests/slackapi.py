"""A local HTTP server standing in for Slack's Web API, behind slack_sdk's `base_url`
(ROUTER_SLACK_API_URL): chat.postMessage, chat.update, chat.postEphemeral and users.info,
answered as Slack answers them, each call recorded. And Slack's side of a request to
the router: the body signed with the app's signing secret, as Slack signs it."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.mailservers import _serving

CHANNEL_ID = "C0DATAENG"


@dataclass
class Call:
    method: str
    """The Web API method: chat.postMessage, ..."""
    args: dict[str, Any]
    """Its JSON body or its query."""
    headers: dict[str, str]
    said: dict[str, Any] = field(default_factory=dict)
    """What the fake answered."""


@dataclass
class FakeSlack:
    emails: dict[str, str] = field(default_factory=dict)
    """users.info: Slack user id -> the email in their profile."""
    script: list[tuple[str, int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    """Answers (method, status, JSON, headers) to give first to calls of that method, in
    order; then Slack's own."""
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _next_ts: int = 1765000000

    def answer(
        self, method: str, args: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            scripted = next((s for s in self.script if s[0] == method), None)
            if scripted is not None:
                self.script.remove(scripted)
                _, status, said, extra = scripted
            else:
                (status, said), extra = self._slack(method, args), {}
            self.calls.append(Call(method, args, headers, said))
            return status, said, extra

    def _slack(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method in ("chat.postMessage", "chat.postEphemeral"):
            self._next_ts += 1
            ts = f"{self._next_ts}.000100"
            return 200, {"ok": True, "channel": CHANNEL_ID, "ts": ts, "message_ts": ts}
        if method == "chat.update":
            return 200, {"ok": True, "channel": args["channel"], "ts": args["ts"]}
        if method == "users.info":
            email = self.emails.get(str(args.get("user")))
            if email is None:
                return 200, {"ok": False, "error": "user_not_found"}
            return 200, {"ok": True, "user": {"id": args["user"], "profile": {"email": email}}}
        return 200, {"ok": False, "error": "unknown_method"}

    def of(self, method: str) -> list[Call]:
        with self.lock:
            return [call for call in self.calls if call.method == method]


@contextmanager
def fake_slack() -> Iterator[tuple[FakeSlack, str]]:
    """The fake and the base URL to give slack_sdk (ends with /api/)."""
    fake = FakeSlack()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, args: dict[str, Any]) -> None:
            method = urlsplit(self.path).path.removeprefix("/api/")
            status, said, extra = fake.answer(method, args, dict(self.headers))
            body = json.dumps(said).encode()
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            self._reply({name: values[0] for name, values in query.items()})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Type", "").startswith("application/json"):
                self._reply(json.loads(raw or b"{}"))
            else:
                form = parse_qs(raw.decode())
                self._reply({name: values[0] for name, values in form.items()})

        def log_message(self, *args: Any) -> None:
            pass

    with _serving(Handler) as url:
        yield fake, f"{url}/api/"


def signed(body: str, secret: str, timestamp: int) -> dict[str, str]:
    """The headers Slack sends with `body`: v0 HMAC-SHA256 of `v0:{ts}:{body}`."""
    base = f"v0:{timestamp}:{body}".encode()
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }


def press_body(user_id: str, action: str, incident_id: str, action_ts: str) -> str:
    """A block_actions payload as Slack posts it when a button of ours is pressed."""
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": "someone", "team_id": "T0TEAM"},
        "api_app_id": "A0APP",
        "container": {
            "type": "message",
            "message_ts": "1765000001.000100",
            "channel_id": CHANNEL_ID,
            "is_ephemeral": False,
        },
        "channel": {"id": CHANNEL_ID, "name": "data-eng"},
        "trigger_id": "1.2.3",
        "response_url": "https://hooks.slack.com/actions/T0TEAM/1/x",
        "actions": [
            {
                "action_id": action,
                "block_id": "incident",
                "value": incident_id,
                "type": "button",
                "action_ts": action_ts,
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def command_body(command: str, user_id: str) -> str:
    return urlencode(
        {
            "command": command,
            "text": "",
            "user_id": user_id,
            "channel_id": CHANNEL_ID,
            "team_id": "T0TEAM",
            "response_url": "https://hooks.slack.com/commands/1",
        }
    )

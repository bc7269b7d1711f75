"""The Slack app's pure parts as table tests, without Redis or Slack: the thread's head
and replies per change (router.delivery.slack.compose), what a failed Web API call means
(router.delivery.slack.api.failure_of), who a Slack user is (router.service.slack), the
`/oncall` answer, and team.yaml's Slack fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import yaml
from fastapi.routing import APIRoute
from pydantic import ValidationError
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.web import SlackResponse

from router.api import slack as slack_routes
from router.config.load import load_rules
from router.core.rotation import Shift
from router.core.rules import Rules
from router.core.rules.team import Team
from router.delivery.channels.compose import NoticeComposer
from router.delivery.mail.compose import Composer
from router.delivery.slack.api import failure_of
from router.delivery.slack.compose import SlackComposer, escaped
from router.service.slack import engineer_for, oncall_answer
from router.state.stream import Change, line_for, window_line, window_stream
from tests.support import RULES_DIR
from tests.test_firing_step import incident

PUBLIC = "https://router.example.com"
PACIFIC = ZoneInfo("America/Los_Angeles")


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules(RULES_DIR)


@pytest.fixture(scope="module")
def slack(rules: Rules) -> SlackComposer:
    composer = Composer(RULES_DIR.parent / "templates" / "email", rules, PUBLIC, b"k" * 16, 3600)
    return SlackComposer(NoticeComposer(composer, RULES_DIR.parent / "templates" / "push"))


def _json(blocks: tuple[Block, ...]) -> list[dict[str, Any]]:
    """The blocks as slack_sdk sends them."""
    return [block.to_dict() for block in blocks]


def _buttons(blocks: tuple[Block, ...]) -> list[str]:
    return [e["action_id"] for b in _json(blocks) if b["type"] == "actions" for e in b["elements"]]


def _head(blocks: tuple[Block, ...]) -> str:
    return str(_json(blocks)[0]["text"]["text"])


# (the change, who, detail) -> the reply's text, the head's state line, the head's buttons
# fmt: off
CHANGES: list[tuple[Change, str, str, str, list[str]]] = [
    ("triggered", "", "paging Kshama Kumar", "Triggered: paging Kshama Kumar", ["acknowledge", "resolve"]),
    ("escalated", "", "paging Biswa Kalyan Rath", "Escalated: paging Biswa Kalyan Rath", ["acknowledge", "resolve"]),
    ("acknowledged", "Kshama Kumar (Slack)", "", "Acknowledged by Kshama Kumar (Slack)", ["resolve"]),
    ("triggered again", "", "acknowledgement timed out", "Triggered again: acknowledgement timed out", ["acknowledge", "resolve"]),
    ("resolved", "kshama", "", "Resolved by kshama", []),
]
# fmt: on


@pytest.mark.parametrize(("change", "who", "detail", "status", "buttons"), CHANGES)
def test_a_reply_says_the_change_and_the_head_shows_the_state_and_its_buttons(
    slack: SlackComposer, change: Change, who: str, detail: str, status: str, buttons: list[str]
) -> None:
    line = line_for(incident(severity="P1"), change, who=who, detail=detail)
    post = slack.post(line, 3, "inc:chat:3", "#data-eng")
    assert (post.opens, post.stream, post.channel) == (False, "inc", "#data-eng")
    assert post.message.text == status and post.message.blocks == ()
    assert _head(post.head.blocks) == f"*[P1] Aggregate growth: growth job died*\n{status}"
    assert _buttons(post.head.blocks) == buttons
    assert post.head.text == f"[P1] Aggregate growth: growth job died: {status}"
    assert f"<{PUBLIC}/incidents/inc|Open in alert-router>" in str(_json(post.head.blocks)[1])


def test_the_first_line_heads_the_thread_with_both_buttons_bound_to_the_incident(
    slack: SlackComposer,
) -> None:
    line = line_for(incident(), "triggered", detail="paging Kshama Kumar")
    post = slack.post(line, 0, "inc:chat:0", "#data-eng")
    assert post.opens and post.message == post.head
    actions = next(b for b in _json(post.head.blocks) if b["type"] == "actions")["elements"]
    assert [(a["action_id"], a["value"]) for a in actions] == [
        ("acknowledge", "inc"),
        ("resolve", "inc"),
    ]
    assert post.posted(as_head=True) == post.head


# (a repeat?, posted as the head?) -> the text posted for a later line
# fmt: off
POSTED: list[tuple[bool, bool, str]] = [
    (False, False, "Acknowledged by K"),
    (True, False, "(possible repeat) Acknowledged by K"),
    # its thread was never kept: the line heads a new one, and says so if a repeat
    (False, True, "[P2] Aggregate growth: growth job died: Acknowledged by K"),
    (True, True, "(possible repeat) [P2] Aggregate growth: growth job died: Acknowledged by K"),
]
# fmt: on


@pytest.mark.parametrize(("repeat", "as_head", "text"), POSTED)
def test_a_repeat_says_so_whatever_is_posted(
    slack: SlackComposer, repeat: bool, as_head: bool, text: str
) -> None:
    reply = slack.post(line_for(incident(), "acknowledged", who="K"), 1, "inc:chat:1", "#c")
    post = reply.repeated() if repeat else reply
    assert post.posted(as_head).text == text
    assert post.head == reply.head  # the head's later updates show the state alone


def test_what_a_person_wrote_cannot_make_slack_markup(slack: SlackComposer) -> None:
    line = line_for(incident(summary="<!channel> rows & <http://x|click>"), "triggered")
    head = slack.post(line, 0, "k", "#c").head
    assert "<!channel>" not in _head(head.blocks) and "&lt;!channel&gt; rows &amp;" in head.text
    assert escaped("a<b>&c") == "a&lt;b&gt;&amp;c"


def test_a_maintenance_windows_lines_have_no_buttons(slack: SlackComposer) -> None:
    stream = window_stream("w1", 1765000000)
    start = slack.post(
        window_line(stream, "maintenance started", "growth.* until 06:00"), 0, "k", "#c"
    )
    assert _buttons(start.head.blocks) == [] and start.opens
    assert _head(start.head.blocks) == "*Maintenance*\ngrowth.* until 06:00"
    assert f"<{PUBLIC}/maintenance|" in str(_json(start.head.blocks)[1])
    end = slack.post(window_line(stream, "maintenance ended", "ended"), 1, "k2", "#c")
    assert end.message.text == "ended" and _buttons(end.head.blocks) == []


def _api_error(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.com/api/chat.postMessage",
        req_args={},
        data=body,
        headers=headers or {},
        status_code=status,
    )
    try:
        response.validate()  # type: ignore[no-untyped-call]  # how the SDK raises it
    except SlackApiError as error:
        return error
    raise AssertionError(f"{body} is no error to Slack's SDK")


# (what the call raised) -> permanent?, the detail, Retry-After
# fmt: off
FAILURES: list[tuple[Exception, bool, str, float]] = [
    (_api_error(200, {"ok": False, "error": "channel_not_found"}), True, "Slack: channel_not_found", 0.0),
    (_api_error(200, {"ok": False, "error": "not_in_channel"}), True, "Slack: not_in_channel", 0.0),
    (_api_error(200, {"ok": False, "error": "invalid_auth"}), True, "Slack: invalid_auth", 0.0),
    (_api_error(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}), False, "Slack: ratelimited", 30.0),
    (_api_error(200, {"ok": False, "error": "internal_error"}), False, "Slack: internal_error", 0.0),
    (_api_error(503, {}), False, "Slack: HTTP 503", 0.0),
    (TimeoutError("timed out"), False, "Slack: TimeoutError: timed out", 0.0),
    (ConnectionRefusedError(111, "refused"), False, "Slack: ConnectionRefusedError: [Errno 111] refused", 0.0),
]
# fmt: on


@pytest.mark.parametrize(("error", "permanent", "detail", "retry_after_s"), FAILURES)
def test_a_refusal_is_permanent_and_everything_else_is_retried(
    error: Exception, permanent: bool, detail: str, retry_after_s: float
) -> None:
    failed = failure_of(error)
    assert (failed.permanent, str(failed), failed.retry_after_s) == (
        permanent,
        detail,
        retry_after_s,
    )


def _with_ids(rules: Rules, ids: dict[str, str]) -> Rules:
    team = rules.team.model_copy(
        update={
            "engineers": [
                p.model_copy(update={"slack_id": ids.get(p.name)}) for p in rules.team.engineers
            ]
        }
    )
    return rules.model_copy(update={"team": team})


# (the Slack user, the email Slack has for them) -> the engineer they act as
# fmt: off
PEOPLE: list[tuple[str, str | None, str | None]] = [
    ("U0KSHAMA", None, "Kshama Kumar"),  # by slack_id: Slack is not asked
    ("U0OTHER", "Biswa.Rath@Example.com", "Biswa Kalyan Rath"),  # by email, any case
    ("U0OTHER", "analyst@example.com", None),  # an analyst acts on nothing
    ("U0OTHER", "mallory@example.net", None),
    ("U0OTHER", None, None),  # Slack has no email for them (or no such user)
]
# fmt: on


@pytest.mark.parametrize(("user", "email", "expected"), PEOPLE)
def test_a_slack_user_is_an_engineer_by_slack_id_or_by_email(
    rules: Rules, user: str, email: str | None, expected: str | None
) -> None:
    asked: list[str] = []

    def email_of(user_id: str) -> str | None:
        asked.append(user_id)
        return email

    found = engineer_for(_with_ids(rules, {"Kshama Kumar": "U0KSHAMA"}), user, email_of)
    assert (found.name if found else None) == expected
    assert asked == ([] if user == "U0KSHAMA" else [user])


def _shift(name: str, start: str, end: str, **extra: Any) -> Shift:
    at = [datetime.fromisoformat(t).replace(tzinfo=PACIFIC) for t in (start, end)]
    return Shift(engineer=name, email="x@example.com", start=at[0], end=at[1], **extra)


# fmt: off
ONCALL: list[tuple[list[Shift], str]] = [
    ([_shift("Disha Kapoor", "2026-12-01 09:00", "2026-12-08 09:00"), _shift("Kshama Kumar", "2026-12-08 09:00", "2026-12-15 09:00")],
     "On call now: *Disha Kapoor*, until Tue Dec 8 09:00 PST\nNext: *Kshama Kumar*, from Tue Dec 8 09:00 PST"),
    ([_shift("Biswa Kalyan Rath", "2026-03-07 09:00", "2026-03-09 09:00", cover_for="Disha Kapoor")],
     "On call now: *Biswa Kalyan Rath* (covers Disha Kapoor (away)), until Mon Mar 9 09:00 PDT"),  # over the DST change
    ([], "Nobody is on call in the next two weeks."),
]
# fmt: on


@pytest.mark.parametrize(("shifts", "expected"), ONCALL)
def test_oncall_answers_now_and_next_in_team_time(shifts: list[Shift], expected: str) -> None:
    assert oncall_answer(shifts, PACIFIC) == expected


def _team(**changes: Any) -> dict[str, Any]:
    people = [
        {"name": "A", "email": "a@example.com", "slack_id": "U0A"},
        {"name": "B", "email": "b@example.com"},
    ]
    return {"engineers": people, **changes}


# (team.yaml as read) -> the error it must name
# fmt: off
BAD_TEAMS: list[tuple[dict[str, Any], str]] = [
    (_team(chat="json://h/c", slack={"channel": "#data-eng"}), "chat and slack are both set"),
    (_team(slack={"channel": ""}), "slack.channel"),
    (_team(slack={"channel": "#x", "token": "xoxb-1"}), "slack.token"),  # secrets go in the environment
    ({"engineers": [{"name": "A", "email": "a@example.com", "slack_id": "U0A"},
                    {"name": "B", "email": "b@example.com", "slack_id": "U0A"}]}, "slack_id listed twice: U0A"),
    ({"engineers": [{"name": "A", "email": "a@example.com", "slack_id": "kshama"}]}, "engineers.0.slack_id"),
]
# fmt: on


@pytest.mark.parametrize(("team", "named"), BAD_TEAMS)
def test_bad_slack_settings_in_team_yaml_are_named(team: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Team.model_validate(team)
    assert named in str(raised.value)


def test_a_team_with_the_slack_app_has_a_chat() -> None:
    assert Team.model_validate(_team(slack={"channel": "#data-eng"})).has_chat()
    assert not Team.model_validate(_team()).has_chat()


def test_the_app_manifest_points_slack_at_the_routes() -> None:
    manifest = yaml.safe_load((RULES_DIR.parent / "docs" / "slack-app-manifest.yaml").read_text())
    routes = {route.path for route in slack_routes.router.routes if isinstance(route, APIRoute)}
    interactivity = manifest["settings"]["interactivity"]["request_url"]
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/oncall"
    assert {urlsplit(interactivity).path, urlsplit(command["url"]).path} == routes
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "chat:write",
        "commands",
        "users:read",
        "users:read.email",
    }

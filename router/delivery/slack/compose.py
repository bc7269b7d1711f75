"""The team stream's lines as Slack messages: an incident's first line heads its thread,
with Acknowledge and Resolve buttons; every later line is a reply in that thread, and
the head is updated to show the latest state with the buttons it still allows.

The words are the chat templates' (templates/push/chat*.txt), so Slack and an apprise
chat say the same; the layout is Block Kit through slack_sdk's models.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import get_args

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from router.core.links import LinkAction
from router.delivery.channels.compose import NoticeComposer
from router.state.stream import ChatLine, is_window_stream

ACTIONS: tuple[LinkAction, ...] = get_args(LinkAction)
_STILL_ALLOWED: dict[str, tuple[LinkAction, ...]] = {
    "acknowledged": ("resolve",),
    "resolved": (),
}
"""The buttons the head keeps after a change; both after any other."""


@dataclass(frozen=True)
class SlackMessage:
    text: str
    """The notification's text, and what clients without blocks show."""
    blocks: tuple[Block, ...] = ()


@dataclass(frozen=True)
class SlackPost:
    """One line of a stream for the Slack channel (a send-once payload)."""

    idempotency_key: str
    channel: str
    """team.yaml's slack.channel."""
    stream: str
    """The incident's id (or a maintenance window's stream)."""
    opens: bool
    """The stream's first line: it heads the thread."""
    message: SlackMessage
    head: SlackMessage
    """What the thread's first message shows from this line on."""
    kind: str = "chat"
    repeat: bool = False
    """It may have gone before: what is posted says so (router.delivery.slack.channel)."""

    def repeated(self) -> SlackPost:
        return replace(self, repeat=True)

    def posted(self, as_head: bool) -> SlackMessage:
        """What is posted: the line, or the head when it opens a thread (its first line,
        or a later one whose thread was never kept), marked if it may be a repeat."""
        message = self.head if as_head else self.message
        if not self.repeat:
            return message
        return replace(message, text=f"(possible repeat) {message.text}")


def escaped(text: str) -> str:
    """Slack's mrkdwn treats &, < and > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _buttons(incident_id: str, allowed: tuple[LinkAction, ...]) -> list[Block]:
    if not allowed:
        return []
    buttons = [
        ButtonElement(
            text=action.capitalize(),
            action_id=action,
            value=incident_id,
            style="primary" if action == "acknowledge" else None,
        )
        for action in allowed
    ]
    return [ActionsBlock(block_id="incident", elements=buttons)]


class SlackComposer:
    def __init__(self, notices: NoticeComposer) -> None:
        self.notices = notices

    def post(self, line: ChatLine, number: int, key: str, channel: str) -> SlackPost:
        """Line `number` (from 0) of its stream."""
        head = self.head(line, key)
        if number == 0:
            return SlackPost(key, channel, line.incident, True, head, head)
        reply = SlackMessage(escaped(self.notices.chat_status(line)))
        return SlackPost(key, channel, line.incident, False, reply, head)

    def head(self, line: ChatLine, key: str) -> SlackMessage:
        """The thread's first message as of `line`: the incident, its state, its link and
        the buttons its state allows."""
        notice = self.notices.chat(line, key)
        status = self.notices.chat_status(line)
        url = self.notices.chat_url(line)
        window = is_window_stream(line.incident)
        allowed = () if window else _STILL_ALLOWED.get(line.change, ACTIONS)
        blocks: list[Block] = [
            SectionBlock(
                text=MarkdownTextObject(text=f"*{escaped(notice.title)}*\n{escaped(status)}")
            ),
            ContextBlock(elements=[MarkdownTextObject(text=f"<{url}|Open in alert-router>")]),
            *_buttons(line.incident, allowed),
        ]
        text = escaped(f"{notice.title}: {status}")
        return SlackMessage(text, tuple(blocks))

"""The contract of a channel backend (router.delivery.channels.base), for each kind of apprise URL
the tests can reach: a local HTTP server answering what each case needs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from urllib.parse import unquote_plus

import pytest

from router.delivery.channels.apprise_backend import AppriseBackend
from router.delivery.channels.base import Notice
from router.state.sendonce import DeliveryFailed, LeaseLost
from tests.mailservers import WebhookReceiver, webhook_receiver
from tests.stack import free_port

NOTICE = Notice(
    idempotency_key="inc:0:0:Kshama Kumar:push0:0",
    kind="push",
    title="[P1] Aggregate growth: job died",
    body="Acknowledge: https://router.example/email/acknowledge?token=abc",
    tone="high",
)

URLS: dict[str, Callable[[str], str]] = {
    "json": lambda host: f"json://{host}/hook",
    "ntfy": lambda host: f"ntfy://{host}/kshama-pager",
    "form": lambda host: f"form://{host}/hook",
}


@pytest.fixture(params=sorted(URLS))
def target(request: pytest.FixtureRequest) -> Iterator[tuple[WebhookReceiver, str]]:
    with webhook_receiver() as (receiver, base):
        yield receiver, URLS[request.param](base.removeprefix("http://"))


def test_an_accepted_notice_returns_and_carries_the_title_and_body(
    target: tuple[WebhookReceiver, str],
) -> None:
    receiver, url = target
    AppriseBackend(timeout_s=5).send(url, NOTICE)
    assert len(receiver.calls) == 1
    _, body = receiver.calls[0]
    text = unquote_plus(body.decode())  # form:// posts it form-encoded
    assert "[P1] Aggregate growth: job died" in text
    assert "token=abc" in text


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(400, True), (401, True), (404, True), (429, False), (500, False), (503, False)],
)
def test_a_refusal_is_permanent_and_a_server_error_is_not(
    target: tuple[WebhookReceiver, str], status: int, permanent: bool
) -> None:
    receiver, url = target
    receiver.script.append(status)
    with pytest.raises(DeliveryFailed) as failed:
        AppriseBackend(timeout_s=5).send(url, NOTICE)
    assert failed.value.permanent is permanent
    assert f"error={status}" in str(failed.value)
    assert len(receiver.calls) == 1  # one attempt: retries are the timer's


def test_no_server_listening_is_transient() -> None:
    with pytest.raises(DeliveryFailed) as failed:
        AppriseBackend(timeout_s=5).send(f"json://127.0.0.1:{free_port()}/hook", NOTICE)
    assert not failed.value.permanent


def test_a_url_apprise_cannot_read_is_permanent_and_never_printed() -> None:
    with pytest.raises(DeliveryFailed) as failed:
        AppriseBackend().send("tgram://not-a-bot-token-s3cret/", NOTICE)
    assert failed.value.permanent
    assert "s3cret" not in str(failed.value)


def test_a_high_urgency_notice_is_marked_as_such_where_the_service_shows_it() -> None:
    with webhook_receiver() as (receiver, base):
        url = f"json://{base.removeprefix('http://')}/hook"
        AppriseBackend().send(url, NOTICE)
        AppriseBackend().send(url, NOTICE.model_copy(update={"tone": "low"}))
    assert [json.loads(body)["type"] for _, body in receiver.calls] == ["failure", "warning"]


def test_a_failure_names_the_target_masked(caplog: pytest.LogCaptureFixture) -> None:
    with webhook_receiver() as (receiver, base):
        receiver.script.append(500)
        url = f"json://pager:s3cretpass@{base.removeprefix('http://')}/hook"
        with caplog.at_level("INFO"), pytest.raises(DeliveryFailed) as failed:
            AppriseBackend().send(url, NOTICE)
    assert "json://pager:****@127.0.0.1" in str(failed.value)
    assert "s3cret" not in str(failed.value) and "s3cret" not in caplog.text


def test_a_refused_fence_sends_nothing(target: tuple[WebhookReceiver, str]) -> None:
    """The fence comes right before the request (router.state.sendonce): a worker whose lease is
    gone makes none."""
    receiver, url = target

    def refused(needed_s: float) -> None:
        raise LeaseLost("the lease passed to another attempt")

    with pytest.raises(LeaseLost):
        AppriseBackend(timeout_s=5).send(url, NOTICE, fence=refused)
    assert receiver.calls == []
    AppriseBackend(timeout_s=5).send(url, NOTICE)
    assert len(receiver.calls) == 1

"""Signing in while trying the router out: with the outbox (or console) backend the api
prints each sign-in link whole on its terminal, the login pages say where the link went,
and `router login-link` makes one for an operator against the running Redis."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.stack import Stack, running_stack
from tests.support import RULES_DIR, pacific
from tests.test_console import KSHAMA, ask_link, browser

WHERE = "prints each sign-in link in full"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    outbox = tmp_path_factory.mktemp("sign-in") / "outbox"
    with running_stack(RULES_DIR, outbox, pacific("2026-11-24 10:00")) as running:
        yield running


def _path_of(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def _signs_in(client: httpx.Client, path: str, who: str) -> None:
    shown = client.get(path)
    assert shown.status_code == 200 and f"Sign in as {who}" in shown.text, shown.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', shown.text)
    token = re.search(r'name="token" value="([^"]+)"', shown.text)
    assert csrf and token
    form = {"token": token.group(1), "csrf": csrf.group(1), "next": "/oncall"}
    done = client.post("/login/link", data=form)
    assert done.status_code == 303 and done.headers["location"] == "/oncall", done.text
    assert client.get("/oncall").status_code == 200


def test_the_sign_in_link_is_printed_whole_and_the_pages_say_where_it_went(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    with browser(stack) as client:
        form = client.get("/login")
        assert WHERE in html.unescape(form.text) and str(stack.outbox) in form.text
        capsys.readouterr()
        emailed = ask_link(client, stack, KSHAMA)
        printed = [
            line.removeprefix("sign-in link for Kshama Kumar: ")
            for line in capsys.readouterr().out.splitlines()
            if line.startswith("sign-in link for Kshama Kumar: ")
        ]
        assert [_path_of(link) for link in printed] == [emailed]  # the whole link, once
        assert printed[0].startswith(f"{stack.runtime.settings.public_url}/login/link?token=")
        _signs_in(client, _path_of(printed[0]), "Kshama Kumar")
    with browser(stack) as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
        assert csrf
        sent = client.post("/login", data={"email": KSHAMA, "csrf": csrf.group(1), "next": "/"})
        assert "Check your email" in sent.text and WHERE in html.unescape(sent.text)


def _login_link(stack: Stack, *address: str) -> subprocess.CompletedProcess[str]:
    settings = stack.runtime.settings
    env = {
        **os.environ,
        "REDIS_URL": settings.redis_url,
        "ROUTER_RULES_DIR": str(RULES_DIR),
        "ROUTER_SECRET_KEY": settings.secret_key.get_secret_value(),
        "ROUTER_PUBLIC_URL": stack.url,
    }
    return subprocess.run(
        [sys.executable, "-m", "router", "login-link", *address],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_router_login_link_prints_a_link_that_signs_in_once(stack: Stack) -> None:
    made = _login_link(stack, "Disha.Kapoor@example.com")  # any case, as the login form
    assert made.returncode == 0, made.stderr
    (link,) = made.stdout.splitlines()
    assert link.startswith(f"{stack.url}/login/link?token=")
    with browser(stack) as client:
        _signs_in(client, _path_of(link), "Disha Kapoor")
    with browser(stack) as other:
        assert other.get(_path_of(link)).status_code == 410  # used


def test_router_login_link_refuses_an_address_not_in_the_team(stack: Stack) -> None:
    refused = _login_link(stack, "nobody@example.com")
    assert refused.returncode == 1 and refused.stdout == ""
    (line,) = refused.stderr.strip().splitlines()
    assert line == "error: 'nobody@example.com' is not the address of anyone in team.yaml"

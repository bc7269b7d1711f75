"""A runbook action's timer, decided (router.delivery.firing.action): pure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from router.core.rules import Rules
from router.core.rules.pipelines import EmailAction, WebhookAction
from router.delivery.firing import action
from router.delivery.firing.plan import Done, Plan, Release
from router.state.sendonce import Entry, Record, Written
from router.state.timers import Timer
from tests.support import edited_rules
from tests.test_firing_step import B, D, incident, sent

DENIED = {"type": "permission_denied"}  # growth.aggregate emails the IT helpdesk


def _timer(index: int) -> Timer:
    return Timer(kind="action", incident="inc", round=index, step=0)


# (the incident's changes, the action's index) -> why nothing is sent
# fmt: off
NOTHING: list[tuple[dict[str, Any] | None, int, Done]] = [
    (None, 0, Done("stale", "no such incident", Release())),
    ({**DENIED, "status": "resolved"}, 0, Done("nothing", "incident resolved", Release())),
    ({**DENIED}, 1, Done("nothing", "incident triggered", Release())),  # no such action (the rules changed)
    ({"type": "job_failed"}, 0, Done("nothing", "incident triggered", Release())),
]
# fmt: on


@pytest.mark.parametrize(("changes", "index", "expected"), NOTHING)
def test_an_action_that_no_longer_goes(
    rules: Rules, changes: dict[str, Any] | None, index: int, expected: Done
) -> None:
    found = None if changes is None else incident(**changes)
    assert action.action_of(_timer(index), found, rules) == expected


@pytest.mark.parametrize(
    ("changes", "on_it"),
    [
        ({**DENIED}, B),  # whom the first step pages
        ({**DENIED, "status": "acknowledged", "acknowledged_by": D}, D),  # who acknowledged
    ],
)
def test_an_email_action_tells_the_contact_who_is_on_it(
    rules: Rules, changes: dict[str, Any], on_it: str
) -> None:
    found = incident(**changes)
    chosen = action.action_of(_timer(0), found, rules)
    assert isinstance(chosen, EmailAction)
    plan = action.decide(_timer(0), found, chosen, rules, None)
    assert [sent(s) for s in plan.sends] == [
        ("action email", "it-helpdesk", on_it, "inc:action0:it-helpdesk")
    ]
    fields = (("action", "email it-helpdesk"), ("email", "it-helpdesk@example.com"))
    assert plan == Plan(said="action: email it-helpdesk", sends=plan.sends)
    assert plan.sends[0].record == Record(
        Written((Entry("inc", "action", fields),)),
        Written((Entry("inc", "action failed", fields),)),
    )


def _with_webhook(tmp_path: Path) -> Rules:
    def edit(data: dict[str, Any]) -> None:
        for pipeline in data["pipelines"]:
            if pipeline["id"] == "growth.aggregate":
                pipeline["actions"]["chart_broken"] = [
                    {
                        "label": "Rebuild the charts",
                        "confirm": True,
                        "webhook": {"url": "https://hooks.example.com/r", "secret_env": "HOOK"},
                    }
                ]

    return edited_rules(tmp_path, pipelines=edit)


@pytest.mark.parametrize(("pressed_by", "by"), [("kshama", "kshama"), (None, "the router")])
def test_a_webhook_action_names_who_pressed_its_button(
    tmp_path: Path, pressed_by: str | None, by: str
) -> None:
    rules = _with_webhook(tmp_path)
    found = incident(type="chart_broken")
    chosen = action.action_of(_timer(0), found, rules)
    assert isinstance(chosen, WebhookAction)
    plan = action.decide(_timer(0), found, chosen, rules, pressed_by)
    assert [sent(s) for s in plan.sends] == [("webhook", "Rebuild the charts", by, "inc:action0")]
    assert plan.said == "action: Rebuild the charts"
    fields = (("action", "Rebuild the charts"), ("by", by))
    assert plan.sends[0].record == Record(
        Written((Entry("inc", "action", fields),)),
        Written((Entry("inc", "action failed", fields),)),
    )

"""An escalation step's timer: the step's emails, its pushes due now, a chat line when
it escalates, and a push timer for the pushes that wait for an acknowledgement. A
recipient past their page budget (router.core.digest) gets none of those: the page
joins their digest."""

from __future__ import annotations

from datetime import datetime

from router.core.digest import PageBudget
from router.core.incidents import Incident
from router.core.rules import Rules
from router.delivery.firing import records
from router.delivery.firing.due import DueStep, pushes, recipients, step_key
from router.delivery.firing.plan import ChatOnce, Digested, IncidentEmail, Later, Plan, Send
from router.state.digests import Held
from router.state.metrics import Lateness, counting
from router.state.stream import line_for
from router.state.timers import Timer


def first_kind(incident: Incident) -> str:
    if incident.decision == "defer":
        return "deferred"
    return "data_late" if incident.type == "data_late" else "page"


def decide(
    found: DueStep,
    incident: Incident,
    rules: Rules,
    now: datetime,
    budget: PageBudget | None = None,
) -> Plan:
    """The due step of `incident` under the current `rules` (router.delivery.firing.due);
    `budget`: the recipients' pages so far (None: no digests)."""
    step, index = found.step, found.index
    everyone = recipients(found, incident, rules)
    names = [
        name for name in everyone if budget is None or budget.goes(name, incident.severity, index)
    ]
    held = tuple(
        Digested(name, Held(incident.id, step.round, step.step, now.timestamp()))
        for name in everyone
        if name not in names
    )
    kind = first_kind(incident) if index == 0 else "escalation"
    chat = None
    if index > 0 and rules.team.has_chat():
        line = line_for(incident, "escalated", detail=f"paging {', '.join(everyone)}")
        chat = ChatOnce(line, f"{step.round}:{step.step}:{incident.cycle}")
    emails = tuple(
        Send(
            IncidentEmail(kind, incident, name, index),
            step_key(incident, step, name),
            records.message(
                incident.id,
                name,
                str(rules.team.engineer(name).email),
                kind,
                step.round,
                step.step,
            ),
            counts=True,
        )
        for name in names
    )
    pushed, later = pushes(incident, found, names, rules, now)
    push_timer = Timer(kind="push", incident=incident.id, round=step.round, step=step.step)
    said = f"{kind} to {', '.join(names)}" if names else kind
    if held:
        said += f"; into the digest of {', '.join(d.person for d in held)}"
    return Plan(
        said=said,
        sends=emails + pushed,
        later=Later(push_timer, later.timestamp()) if later is not None else None,
        counted=(
            counting("router_escalation_steps", {"message": kind}),
            Lateness((now - found.due).total_seconds()),
        ),
        chat=chat,
        digest=held,
    )

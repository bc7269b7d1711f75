"""The shipped rules encode the seed; broken rules are refused with file, path and reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest

from router.config.load import RulesInvalid, load_rules
from router.core.rules import Rules
from tests.support import RULES_DIR, copy_rules


def test_shipped_rules_encode_the_seed(rules: Rules) -> None:
    assert rules.team.timezone == "America/Los_Angeles"
    assert rules.oncall.rotation == [
        "Kshama Kumar",
        "Aruna Sharma",
        "Biswa Kalyan Rath",
        "Disha Kapoor",
    ]
    assert rules.oncall.shift_days == 7
    periods = {(p.start, p.end, p.shift_days) for p in rules.oncall.holiday_periods}
    assert (date(2026, 11, 25), date(2026, 11, 30), 2) in periods
    assert (date(2026, 12, 21), date(2027, 1, 4), 2) in periods
    assert list(rules.pipelines) == [
        "profit.unit",
        "profit.aggregate",
        "growth.aggregate",
        "growth.daily",
        "engagement.aggregate",
    ]
    owners = {pid: (p.owners.primary, p.owners.secondary) for pid, p in rules.pipelines.items()}
    assert owners["profit.aggregate"] == ("Kshama Kumar", "Aruna Sharma")
    assert owners["growth.aggregate"] == ("Biswa Kalyan Rath", "Disha Kapoor")
    assert owners["engagement.aggregate"] == ("Kshama Kumar", "Biswa Kalyan Rath")
    purposes = {pid: p.purpose for pid, p in rules.pipelines.items()}
    assert purposes == {
        "profit.unit": "experiments",
        "profit.aggregate": "investors",
        "growth.aggregate": "investors",
        "growth.daily": "experiments",
        "engagement.aggregate": "investors",
    }
    (deadline,) = rules.pipeline("profit.unit").deadlines
    assert (deadline.at, deadline.expects, deadline.raises) == (time(19), "data_ready", "data_late")
    runbook = {pid: p.runbook for pid, p in rules.pipelines.items()}
    assert "weekly average value" in runbook["profit.aggregate"]["data_missing"]
    assert "estimate for the fix" in runbook["profit.aggregate"]["aggregation_error"]
    assert "blocking areas" in runbook["growth.aggregate"]["slow_query"]
    assert "IT team" in runbook["growth.aggregate"]["permission_denied"]
    assert "root cause analysis" in runbook["engagement.aggregate"]["dedup_error"]
    assert "UTC timezone" in runbook["engagement.aggregate"]["timestamp_skew"]
    assert all(str(p.email).endswith("@example.com") for p in rules.team.engineers)
    assert rules.team.analysts and rules.routing.paging.notify_types == ["report_ready"]


def test_every_required_event_type_has_a_rule(rules: Rules) -> None:
    required = [
        "data_missing",
        "data_late",
        "job_failed",
        "data_ready",
        "aggregation_error",
        "slow_query",
        "permission_denied",
        "chart_broken",
        "dedup_error",
        "timestamp_skew",
        "report_ready",
    ]
    explicit = {t for rule in rules.routing.rules for t in (rule.match.type or [])}
    assert set(required) <= explicit


def _set(path: str, value: Any) -> Callable[[Any], None]:
    """An edit that sets a dotted path (list indexes as numbers) to `value`."""

    def edit(data: Any) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        for part in parents:
            data = data[part]
        data[last] = value

    return edit


BROKEN = [
    (
        "pipelines",
        _set("pipelines.1.owners.primary", "Kshama Kumr"),
        "pipelines.yaml: pipelines[1].owners.primary: unknown engineer 'Kshama Kumr'",
    ),
    (
        "oncall",
        _set("holiday_periods.1.start", date(2026, 11, 29)),
        "oncall.yaml: holiday_periods[1]: holiday period overlaps holiday_periods[0]",
    ),
    (
        "routing",
        _set("escalation_policies.owners_first.steps.0.after", "15 minutes"),
        "routing.yaml: escalation_policies.owners_first.steps[0].after: bad duration '15 minutes'",
    ),
    (
        "routing",
        _set("escalation_policies.owners_first.steps.0.after", 15),
        "routing.yaml: escalation_policies.owners_first.steps[0].after: bad duration 15",
    ),
    ("routing", _set("rules.0.severity", "P5"), "routing.yaml: rules[0].severity: Input should be"),
    ("routing", _set("rules.0.sevrity", "P1"), "routing.yaml: rules[0].sevrity: unknown key"),
    (
        "routing",
        _set("rules.0.match.pipeline", "profit.total"),
        "routing.yaml: rules[0].match.pipeline: unknown pipeline 'profit.total'",
    ),
    (
        "routing",
        _set("maintenance", [{"weekly": "Saturday 02:00-06:00", "reason": "warehouse"}]),
        "routing.yaml: maintenance[0].weekly: 'Saturday 02:00-06:00' is not like 'Sat 02:00-06:00'",
    ),
    (
        "routing",
        _set(
            "maintenance",
            [{"pipelines": ["profit.total"], "weekly": "Sat 02:00-06:00", "reason": "warehouse"}],
        ),
        "routing.yaml: maintenance[0].pipelines: unknown pipeline 'profit.total'",
    ),
    (
        "routing",
        _set("maintenance", [{"weekly": "Sat 02:00-06:00", "reson": "warehouse"}]),
        "routing.yaml: maintenance[0].reson: unknown key",
    ),
    (
        "routing",
        _set("paging.off_hours_policy", "wake_everyone"),
        "routing.yaml: paging.off_hours_policy: unknown escalation policy 'wake_everyone'",
    ),
    (
        "routing",
        _set("escalation_policies.oncall_first.steps.0.notify", "on-call"),
        "routing.yaml: escalation_policies.oncall_first.steps[0].notify: unknown target 'on-call'",
    ),
    ("team", _set("timezone", "Pacific/Nowhere"), "team.yaml: timezone: unknown time zone"),
    # a folder of the zone database: ZoneInfo raises IsADirectoryError, once a traceback
    ("team", _set("timezone", "America"), "team.yaml: timezone: unknown time zone 'America'"),
    (
        "pipelines",
        _set("pipelines.0.source_timezone", "America"),
        "pipelines.yaml: pipelines[0].source_timezone: unknown time zone 'America'",
    ),
    ("team", _set("business_hours.end", "25:00"), "team.yaml: business_hours.end: bad time of day"),
    ("team", _set("engineers.0.email", "kshama"), "team.yaml: engineers[0].email: value is not"),
    (
        "team",
        _set("engineers.1.unavailable.0.end", date(2026, 11, 1)),
        "team.yaml: engineers[1].unavailable[0]: end 2026-11-01 is before start 2026-11-28",
    ),
    (
        "oncall",
        _set("rotation.2", "Biswa Rath"),
        "oncall.yaml: rotation[2]: unknown engineer 'Biswa Rath'",
    ),
    (
        "oncall",
        _set(
            "overrides",
            [
                {
                    "engineer": "Disha Kapoor",
                    "start": "2027-02-01T09:00",
                    "end": "2027-02-03T09:00",
                },
                {
                    "engineer": "Aruna Sharma",
                    "start": "2027-02-02T09:00",
                    "end": "2027-02-02T12:00",
                },
            ],
        ),
        "oncall.yaml: overrides[1]: overlaps overrides[0]",
    ),
    (
        "pipelines",
        _set("pipelines.2.report_to", ["Nobody"]),
        "pipelines.yaml: pipelines[2].report_to: unknown analyst 'Nobody'",
    ),
    (
        "pipelines",
        _set("pipelines.2.actions.permission_denied", [{"email": "it-desk"}]),
        "pipelines.yaml: pipelines[2].actions.permission_denied[0].email: unknown contact 'it-desk'",
    ),
    (
        "routing",
        _set("ack_timeout.P2", "4 hours"),
        "routing.yaml: ack_timeout.P2: bad duration '4 hours'",
    ),
    (
        "pipelines",
        _set("pipelines.4.id", "profit.unit"),
        "pipelines.yaml: pipelines[4].id: pipeline 'profit.unit' is listed twice",
    ),
]


@pytest.mark.parametrize(("file", "edit", "message"), BROKEN)
def test_broken_rules_are_refused(
    tmp_path: Path, file: str, edit: Callable[[Any], None], message: str
) -> None:
    directory = copy_rules(tmp_path, **{file: edit})
    with pytest.raises(RulesInvalid) as caught:
        load_rules(directory)
    said = [str(issue) for issue in caught.value.issues]
    assert any(line.startswith(message) for line in said), said


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    directory = copy_rules(
        tmp_path,
        team=_set("timezone", "Mars/Olympus"),
        routing=_set("rules.3.severity", "urgent"),
    )
    with pytest.raises(RulesInvalid) as caught:
        load_rules(directory)
    files = sorted(issue.file for issue in caught.value.issues)
    assert files == ["routing.yaml", "team.yaml"]


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    directory = copy_rules(tmp_path)
    (directory / "oncall.yaml").unlink()
    (directory / "team.yaml").write_text("timezone: [unclosed\n", encoding="utf-8")
    with pytest.raises(RulesInvalid) as caught:
        load_rules(directory)
    said = [str(issue) for issue in caught.value.issues]
    assert said[0].startswith("team.yaml: line 2, column 1: not valid YAML")
    assert said[1].startswith("oncall.yaml: missing")
    assert len(said) == 2  # nothing in the other files is unknown against an unread team.yaml


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(RulesInvalid, match="not a directory of rules"):
        load_rules(tmp_path / "nowhere")


def test_unquoted_clock_times_are_read_as_times(tmp_path: Path) -> None:
    # YAML 1.1 would read 18:00 as the base-60 number 1080; the loader keeps it a time.
    directory = copy_rules(tmp_path)
    team = (RULES_DIR / "team.yaml").read_text(encoding="utf-8").replace('"18:00"', "18:00")
    assert "end: 18:00" in team
    (directory / "team.yaml").write_text(team, encoding="utf-8")
    assert load_rules(directory).team.business_hours.end == time(18)


def test_cross_file_problems_come_with_the_per_file_ones(tmp_path: Path) -> None:
    """A broken routing.yaml does not hide that pipelines.yaml names an unknown engineer."""
    directory = copy_rules(
        tmp_path,
        routing=_set("rules.3.severity", "urgent"),
        pipelines=_set("pipelines.2.report_to", ["Nobody"]),
    )
    with pytest.raises(RulesInvalid) as caught:
        load_rules(directory)
    said = [str(issue) for issue in caught.value.issues]
    assert any(line.startswith("routing.yaml: rules[3].severity") for line in said), said
    assert (
        "pipelines.yaml: pipelines[2].report_to: unknown analyst 'Nobody' (not in team.yaml)"
        in said
    )


@pytest.mark.parametrize(
    "nested",
    [
        "[" * 1200 + "]" * 1200,  # flow style
        "".join(f"\n{'  ' * depth}- " for depth in range(1200)) + "x",  # block style
        "".join(f"\n{'  ' * depth}k:" for depth in range(1200)) + " x",  # block mappings
    ],
    ids=["flow-lists", "block-lists", "block-mappings"],
)
def test_deep_nesting_is_one_issue_naming_the_file(tmp_path: Path, nested: str) -> None:
    """PyYAML builds a document recursively: 1,200 levels once ended in a RecursionError."""
    directory = copy_rules(tmp_path / "rules")
    with (directory / "pipelines.yaml").open("a", encoding="utf-8") as out:
        out.write(f"\ndeep: {nested}\n")
    with pytest.raises(RulesInvalid) as invalid:
        load_rules(directory)
    (issue,) = invalid.value.issues
    assert issue.file == "pipelines.yaml" and issue.path.startswith("line ")
    assert issue.message == "nested deeper than 64 levels"


def test_nesting_up_to_the_limit_is_only_checked_by_the_models(tmp_path: Path) -> None:
    directory = copy_rules(tmp_path / "rules")
    with (directory / "pipelines.yaml").open("a", encoding="utf-8") as out:
        out.write("\ndeep: " + "[" * 63 + "]" * 63 + "\n")  # 64 with the top-level mapping
    with pytest.raises(RulesInvalid) as invalid:
        load_rules(directory)
    assert [(i.path, i.message) for i in invalid.value.issues] == [
        ("deep", "unknown key (misspelt?)")
    ]


def _rename(path: str, key: str) -> Callable[[Any], None]:
    """An edit that misspells the last key of a dotted path as `key`."""

    def edit(data: Any) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        for part in parents:
            data = data[part]
        data[key] = data.pop(last)

    return edit


def _each(*edits: Callable[[Any], None]) -> Callable[[Any], None]:
    """Several edits of one file."""

    def edit(data: Any) -> None:
        for one in edits:
            one(data)

    return edit


def _issues(directory: Path) -> list[str]:
    with pytest.raises(RulesInvalid) as caught:
        load_rules(directory)
    return [str(issue) for issue in caught.value.issues]


# A schema error in a file, or in an entry, beside problems the cross checks find: each
# case's lines are all reported in one run (each once, and nothing else).
HIDDEN_NO_MORE = {
    "a broken team.yaml still lets oncall.yaml be checked": (
        {"team": _set("timezone", "Mars/Olympus"), "oncall": _set("rotation.2", "Biswa Rath")},
        [
            "team.yaml: timezone: unknown time zone 'Mars/Olympus' (use an IANA name)",
            "oncall.yaml: rotation[2]: unknown engineer 'Biswa Rath' (not in team.yaml)",
        ],
    ),
    "an invalid engineer still counts by name; a real unknown owner is still reported": (
        {
            "team": _set("engineers.0.email", 42),
            "pipelines": _set("pipelines.1.owners.secondary", "Aruna Sharmaa"),
        },
        [
            "team.yaml: engineers[0].email: Input should be a valid string",
            "pipelines.yaml: pipelines[1].owners.secondary: unknown engineer 'Aruna Sharmaa' "
            "(not in team.yaml)",
        ],
    ),
    "a bad value and an unknown owner in the same pipeline": (
        {
            "pipelines": _each(
                _set("pipelines.2.purpose", "investor"),
                _set("pipelines.2.owners.primary", "Biswa Kalyan Rat"),
            )
        },
        [
            "pipelines.yaml: pipelines[2].purpose: Input should be 'experiments' or 'investors'",
            "pipelines.yaml: pipelines[2].owners.primary: unknown engineer 'Biswa Kalyan Rat' "
            "(not in team.yaml)",
        ],
    ),
    "a broken override beside overlapping holidays and an unknown engineer": (
        {
            "oncall": _each(
                _set("holiday_periods.1.start", date(2026, 11, 29)),
                _set("rotation.0", "Kshama"),
                _set(
                    "overrides",
                    [
                        {"engineer": "Nobody", "start": "2027-02-01T09:00", "end": "soon"},
                        {"engineer": "Disha Kapoor", "start": "2027-02-01", "end": "2027-02-03"},
                        {"engineer": "Aruna Sharma", "start": "2027-02-02", "end": "2027-02-04"},
                    ],
                ),
            )
        },
        [
            "oncall.yaml: overrides[0].end: Input should be a valid datetime or date, "
            "input is too short",
            "oncall.yaml: rotation[0]: unknown engineer 'Kshama' (not in team.yaml)",
            "oncall.yaml: holiday_periods[1]: holiday period overlaps holiday_periods[0]",
            "oncall.yaml: overrides[0].engineer: unknown engineer 'Nobody' (not in team.yaml)",
            "oncall.yaml: overrides[2]: overlaps overrides[1]",
        ],
    ),
    "routing.yaml's schema error beside its unknown policy, pipeline and target": (
        {
            "routing": _each(
                _set("rules.0.severity", "P5"),
                _set("rules.1.escalation", "wake_everyone"),
                _set("integrations.0.pipeline", "profit.total"),
                _set("escalation_policies.oncall_first.steps.0.notify", "on-call"),
            )
        },
        [
            "routing.yaml: rules[0].severity: Input should be 'P1', 'P2', 'P3' or 'P4'",
            "routing.yaml: rules[1].escalation: unknown escalation policy 'wake_everyone'",
            "routing.yaml: integrations[0].pipeline: unknown pipeline 'profit.total' "
            "(not in pipelines.yaml)",
            "routing.yaml: escalation_policies.oncall_first.steps[0].notify: unknown target "
            "'on-call': use primary, secondary, oncall, team or an engineer's name",
        ],
    ),
    "a broken team.yaml still has its contact methods checked": (
        {
            "team": _each(
                _set("business_hours.days", "weekdays"),
                _set("engineers.0.contact_methods", ["tgram://not-a-b0t/"]),
            )
        },
        [
            "team.yaml: business_hours.days: Input should be a valid list",
            "team.yaml: engineers[0].contact_methods[0]: Kshama Kumar's contact method #1 "
            "(tgram://…) is not a notification URL apprise can use",
        ],
    ),
}


@pytest.mark.parametrize(("edits", "expected"), HIDDEN_NO_MORE.values(), ids=list(HIDDEN_NO_MORE))
def test_a_schema_error_hides_no_other_problem(
    tmp_path: Path, edits: dict[str, Callable[[Any], None]], expected: list[str]
) -> None:
    assert _issues(copy_rules(tmp_path, **edits)) == expected


# A list that cannot be read, or a key that may be the misspelt one meant, makes nothing
# unknown: each case's schema errors are the only lines.
NO_FALSE_ALARMS = {
    "an engineer's name key misspelt: the name still counts": (
        {"team": _rename("engineers.1.name", "nmae")},
        [
            "team.yaml: engineers[1].name: Field required",
            "team.yaml: engineers[1].nmae: unknown key (misspelt?)",
        ],
    ),
    "engineers not a list: no owner is called unknown": (
        {"team": _set("engineers", {"Kshama Kumar": "kshama.kumar@example.com"})},
        ["team.yaml: engineers: Input should be a valid list"],
    ),
    "the engineers key misspelt": (
        {"team": _rename("engineers", "enginers")},
        [
            "team.yaml: engineers: Field required",
            "team.yaml: enginers: unknown key (misspelt?)",
        ],
    ),
    "a pipeline's id key misspelt: routing.yaml's mentions of it still count": (
        {"pipelines": _rename("pipelines.0.id", "idd")},
        [
            "pipelines.yaml: pipelines[0].id: Field required",
            "pipelines.yaml: pipelines[0].idd: unknown key (misspelt?)",
        ],
    ),
    "a misspelt paging key: its default policy is not assumed": (
        {
            "routing": _each(
                _rename("paging.off_hours_policy", "off_hour_policy"),
                _rename("escalation_policies.oncall_first", "wake_the_oncall"),
                _set("paging.off_hour_policy", "wake_the_oncall"),
            )
        },
        ["routing.yaml: paging.off_hour_policy: unknown key (misspelt?)"],
    ),
    "escalation policies misspelt: paging's policies are not unknown": (
        {"routing": _rename("escalation_policies", "escalation_policy")},
        [
            "routing.yaml: escalation_policies: Field required",
            "routing.yaml: escalation_policy: unknown key (misspelt?)",
        ],
    ),
}


@pytest.mark.parametrize(("edits", "expected"), NO_FALSE_ALARMS.values(), ids=list(NO_FALSE_ALARMS))
def test_what_cannot_be_read_makes_nothing_unknown(
    tmp_path: Path, edits: dict[str, Callable[[Any], None]], expected: list[str]
) -> None:
    assert _issues(copy_rules(tmp_path, **edits)) == expected

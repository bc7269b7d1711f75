"""The `router` command run as a user runs it: a real process, real files, real exit codes."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import RULES_DIR, copy_rules

ROOT = RULES_DIR.parent


def router(
    *args: str, stdin: str = "", cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=60,
        check=False,
    )


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_check_passes_on_the_shipped_rules() -> None:
    done = router("check")
    assert done.returncode == 0, done.stderr
    assert "ok: rules is valid" in done.stdout
    for word in (
        "Kshama Kumar",
        "Thanksgiving",
        "profit.unit",
        "data_ready by 19:00",
        "owners_first",
    ):
        assert word in done.stdout


def test_check_names_file_path_and_problem(tmp_path: Path) -> None:
    def typo(data: dict[str, Any]) -> None:
        data["pipelines"][2]["owners"]["secondary"] = "Disha Kapur"

    directory = copy_rules(tmp_path / "rules", pipelines=typo)
    done = router("check", "--rules", str(directory))
    assert done.returncode == 1
    assert (
        f"{directory}/pipelines.yaml: pipelines[2].owners.secondary: unknown engineer 'Disha Kapur'"
    ) in done.stderr
    assert done.stdout == ""


def _typos(*edits: tuple[str, Any]) -> Callable[[Any], None]:
    """An edit of one rules file setting each dotted path (list indexes as numbers)."""

    def edit(data: Any) -> None:
        for path, value in edits:
            *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
            place = data
            for part in parents:
                place = place[part]
            place[last] = value

    return edit


# Typos across the rules files, each one line in one run of `router check`, cross-file
# ones included: a schema error once hid every problem between its file and the others.
EVERY_PROBLEM_AT_ONCE = {
    "three files": (
        {
            "team": _typos(("engineers.0.email", 42)),
            "pipelines": _typos(
                ("pipelines.1.purpose", "investor"),
                ("pipelines.2.owners.primary", "Biswa Kalyan Rat"),
            ),
            "routing": _typos(("rules.2.escalation", "wake_everyone")),
        },
        [
            "team.yaml: engineers[0].email: Input should be a valid string",
            "pipelines.yaml: pipelines[1].purpose: Input should be 'experiments' or 'investors'",
            "pipelines.yaml: pipelines[2].owners.primary: unknown engineer 'Biswa Kalyan Rat' "
            "(not in team.yaml)",
            "routing.yaml: rules[2].escalation: unknown escalation policy 'wake_everyone'",
        ],
    ),
    # The report: three typos in two files, the third shown only once the first two were fixed.
    "three typos in two files": (
        {
            "pipelines": _typos(
                ("pipelines.0.purpose", "experiment"),
                ("pipelines.1.owners.secondary", "Aruna Sharmaa"),
            ),
            "routing": _typos(("rules.2.severity", "p2")),
        },
        [
            "pipelines.yaml: pipelines[0].purpose: Input should be 'experiments' or 'investors'",
            "routing.yaml: rules[2].severity: Input should be 'P1', 'P2', 'P3' or 'P4'",
            "pipelines.yaml: pipelines[1].owners.secondary: unknown engineer 'Aruna Sharmaa' "
            "(not in team.yaml)",
        ],
    ),
}


@pytest.mark.parametrize(
    ("edits", "problems"), EVERY_PROBLEM_AT_ONCE.values(), ids=list(EVERY_PROBLEM_AT_ONCE)
)
def test_check_reports_every_problem_in_one_run(
    tmp_path: Path, edits: dict[str, Callable[[Any], None]], problems: list[str]
) -> None:
    directory = copy_rules(tmp_path / "rules", **edits)
    done = router("check", "--rules", str(directory))
    assert done.returncode == 1
    *lines, summary = done.stderr.splitlines()
    assert lines == [f"{directory}/{problem}" for problem in problems]
    assert summary == f"error: {len(problems)} problem(s) in the rules in {directory}"


def test_rules_dir_from_the_environment(tmp_path: Path) -> None:
    directory = copy_rules(tmp_path / "elsewhere")
    done = router("check", cwd=tmp_path, env={"ROUTER_RULES_DIR": str(directory)})
    assert done.returncode == 0, done.stderr
    missing = router("check", cwd=tmp_path, env={"ROUTER_RULES_DIR": ""})
    assert missing.returncode == 1 and "rules: not a directory of rules" in missing.stderr


EVENTS = (
    "\n".join(
        json.dumps(e)
        for e in [
            {"pipeline": "growth.aggregate", "type": "slow_query", "summary": "p95 40s"},
            {"pipeline": "growth.aggregate", "type": "slow_query", "summary": "p95 45s"},
            {"pipeline": "profit.unit", "type": "data_late", "occurred_at": "2026-11-28T02:55:00"},
            {"pipeline": "growth.aggregate", "type": "slow_query", "action": "resolve"},
            {"pipeline": "growth.aggregate", "type": "slow_query"},
            {"pipeline": "engagement.aggregate", "type": "report_ready"},
            {"pipeline": "profit.unit", "type": "data_ready"},
        ]
    )
    + "\n"
)


def test_simulate_saturday_night() -> None:
    done = router("simulate", "--at", "2026-11-28T03:00:00-08:00", "-", stdin=EVENTS)
    assert done.returncode == 0, done.stderr
    lines = _lines(done.stdout)
    assert [line["decision"] for line in lines] == [
        "defer",
        "none",
        "page",
        "none",
        "defer",
        "notify",
        "none",
    ]
    deferred, folded, late = lines[0], lines[1], lines[2]
    assert deferred["deliver_at"] == "2026-11-30T17:00:00Z"
    assert deferred["escalation"][0] == {"after_minutes": 0, "notify": ["Biswa Kalyan Rath"]}
    assert "Folded" in folded["reason"] and folded["deliver_at"] is None
    assert late["occurred_at"] == "2026-11-28T10:55:00Z"  # naive: Pacific wall-clock time
    assert late["category"] == "daily_data" and late["deliver_at"] == "2026-11-28T11:00:00Z"
    assert late["escalation"][0]["notify"] == ["Kshama Kumar"]  # on call on Thanksgiving weekend
    assert lines[5]["recipients"] == ["analyst@example.com"]
    assert "resolves profit.unit/data_late" in lines[6]["reason"]


def test_simulate_reports_bad_lines_and_goes_on(tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(
        '{"pipeline": "profit.unit", "type": "data_late"}\n'
        "{not json\n"
        "\n"
        '{"pipeline": "profit.unit", "type": "data_late", "severity": "urgent"}\n'
        '{"pipeline": "growth.daily", "type": "data_missing"}\n',
        encoding="utf-8",
    )
    done = router("simulate", "--at", "2026-11-24T10:00", str(source))
    assert done.returncode == 1
    lines = _lines(done.stdout)
    assert lines[1]["line"] == 2 and lines[1]["error"].startswith("not valid JSON")
    assert lines[2]["line"] == 4 and lines[2]["error"].startswith("severity:")
    assert [line.get("decision") for line in lines] == ["page", None, None, "page"]


def test_simulate_refuses_a_bad_instant() -> None:
    done = router("simulate", "--at", "soon", "-", stdin=EVENTS)
    assert done.returncode == 2 and "--at: 'soon' is not an ISO 8601" in done.stderr


def test_oncall_at_an_instant_as_json() -> None:
    done = router("oncall", "--at", "2026-11-26T03:00", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "name": "Disha Kapoor",
        "email": "disha.kapoor@example.com",
        "shift_start": "2026-11-25T17:00:00Z",
        "shift_end": "2026-11-27T17:00:00Z",
        "holiday_period": True,
        "cover_for": None,
        "override": None,
    }


def test_oncall_range_is_contiguous() -> None:
    done = router("oncall", "--from", "2026-12-18", "--to", "2027-01-06", "--json")
    assert done.returncode == 0, done.stderr
    shifts = json.loads(done.stdout)
    assert shifts[0]["shift_start"] <= "2026-12-18T08:00:00Z"
    assert shifts[-1]["shift_end"] >= "2027-01-07T08:00:00Z"
    assert all(a["shift_end"] == b["shift_start"] for a, b in itertools.pairwise(shifts))
    assert sum(s["holiday_period"] for s in shifts) == 8  # 7 two-day shifts and a 1-day one


def test_oncall_tables() -> None:
    done = router("oncall", "--from", "2026-11-24", "--to", "2026-11-30")
    assert done.returncode == 0, done.stderr
    assert "Thanksgiving" in done.stdout and "Wed 2026-11-25 09:00 PST" in done.stdout
    now = router("oncall")
    assert now.returncode == 0 and "On call" in now.stdout


def test_oncall_refuses_half_a_range() -> None:
    done = router("oncall", "--from", "2026-12-18")
    assert done.returncode == 2 and "--from and --to go together" in done.stderr


def test_send_test_with_the_smtp_server_down_says_one_line() -> None:
    from tests.stack import free_port

    env = {"ROUTER_EMAIL_BACKEND": "smtp", "ROUTER_SMTP_PORT": str(free_port())}
    done = router("send-test", "--to", "me@example.com", env=env)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: smtp") and "Connection" in line


def test_keygen_prints_a_fresh_key_the_settings_accept() -> None:
    first, second = router("keygen").stdout.strip(), router("keygen").stdout.strip()
    assert first != second and len(first) == 32
    env = {"ROUTER_ROUTING_KEYS": f"profit-aggregate={first}"}
    assert router("check", env=env).returncode == 0


def test_dead_letters_list_and_retry() -> None:
    from tests.redis_server import session_redis

    env = {"REDIS_URL": session_redis().url(6)}
    session_redis().client(6).flushdb()
    listed = router("dead-letters", env=env)
    assert listed.returncode == 0 and listed.stdout == ""
    retried = router("dead-letters", "retry", env=env)
    assert retried.returncode == 0 and "queued 0 dead letter(s)" in retried.stdout
    wrong = router("dead-letters", "burn", env=env)
    assert wrong.returncode == 2 and "use list or retry" in wrong.stderr


def _with_methods(tmp_path: Path, *urls: str) -> Path:
    def edit(team: dict[str, Any]) -> None:
        team["engineers"][0]["contact_methods"] = list(urls)  # Kshama Kumar

    return copy_rules(tmp_path / "rules", team=edit)


def test_check_names_the_person_and_entry_of_a_malformed_notification_url(
    tmp_path: Path,
) -> None:
    directory = _with_methods(tmp_path, "ntfys://ntfy.sh/kshama", "tgram://not-a-b0t-s3cret/")
    done = router("check", "--rules", str(directory))
    assert done.returncode == 1
    (issue, summary) = done.stderr.strip().splitlines()
    assert issue == (
        f"{directory}/team.yaml: engineers[0].contact_methods[1]: Kshama Kumar's contact method "
        "#2 (tgram://…) is not a notification URL apprise can use"
    )
    assert summary == f"error: 1 problem(s) in the rules in {directory}"
    assert "s3cret" not in done.stderr + done.stdout


def test_check_shows_contact_methods_masked(tmp_path: Path) -> None:
    directory = _with_methods(tmp_path, "json://pager:s3cretpass@127.0.0.1/k")
    done = router("check", "--rules", str(directory))
    assert done.returncode == 0, done.stderr
    assert "json://pager:****@127.0.0.1/k" in done.stdout
    assert "s3cret" not in done.stdout


def test_send_test_tries_each_of_a_persons_channels(tmp_path: Path) -> None:
    from tests.mailservers import webhook_receiver

    with webhook_receiver() as (receiver, base):
        host = base.removeprefix("http://")
        directory = _with_methods(tmp_path, f"ntfy://{host}/kshama", f"json://{host}/refuses")
        receiver.script.extend([200, 400])
        env = {"ROUTER_RULES_DIR": str(directory), "ROUTER_OUTBOX_DIR": str(tmp_path / "out")}
        done = router("send-test", "--to", "Kshama Kumar", env=env)
        assert done.returncode == 1  # one channel refused
        assert done.stdout.splitlines() == [
            "sent a page message to kshama.kumar@example.com through outbox",
            f"sent a test to ntfy://{host}/kshama",
        ]
        (refused,) = done.stderr.strip().splitlines()
        assert refused.startswith(f"error: json://{host}/refuses: ") and "error=400" in refused
        assert len(list((tmp_path / "out").glob("*.eml"))) == 1
        bodies = [json.loads(body) for _, body in receiver.calls]
        assert bodies[0]["topic"] == "kshama" and "Kshama Kumar" in bodies[0]["message"]

        # a URL to try before it goes in team.yaml: that one only, no email
        done = router(
            "send-test", "--to", "Kshama Kumar", "--channel", f"json://{host}/new", env=env
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"sent a test to json://{host}/new"
        assert receiver.paths[-1] == "/new"


def test_send_test_refuses_an_unknown_person_or_a_bad_url() -> None:
    done = router("send-test", "--to", "Nobody")
    assert done.returncode == 2
    assert "'Nobody' is neither an engineer in team.yaml nor an email address" in done.stderr
    done = router("send-test", "--to", "Kshama Kumar", "--channel", "tgram://s3cret/")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --channel: tgram://… is not a URL apprise can use"


def test_a_process_with_channels_refuses_a_lease_a_push_could_outlive(tmp_path: Path) -> None:
    directory = _with_methods(tmp_path, "ntfys://ntfy.sh/kshama")
    env = {"ROUTER_RULES_DIR": str(directory), "ROUTER_TIMER_LEASE_S": "15"}
    done = router("scheduler", env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: setting ROUTER_TIMER_LEASE_S: 15 s is too short for one push or chat attempt "
        "(ROUTER_CHANNEL_TIMEOUT_S 10 s); use at least 20 s so no send outlives its lease"
    )


def test_check_reports_deep_nesting_in_one_line(tmp_path: Path) -> None:
    directory = copy_rules(tmp_path / "rules")
    with (directory / "team.yaml").open("a", encoding="utf-8") as out:
        out.write("\nzz: " + "[" * 1200 + "]" * 1200 + "\n")
    done = router("check", "--rules", str(directory))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr
    first, summary = done.stderr.splitlines()
    assert first.startswith(f"{directory}/team.yaml: line ")
    assert first.endswith(": nested deeper than 64 levels")
    assert "1 problem(s) in the rules" in summary


def test_simulate_answers_suppressed_inside_a_weekly_window(tmp_path: Path) -> None:
    def windows(data: dict[str, Any]) -> None:
        data["maintenance"] = [{"weekly": "Sat 02:00-06:00", "reason": "warehouse maintenance"}]

    rules = copy_rules(tmp_path / "rules", routing=windows)
    done = router("simulate", "--rules", str(rules), "--at", "2026-11-28T03:00", "-", stdin=EVENTS)
    assert done.returncode == 0, done.stderr
    lines = _lines(done.stdout)
    assert [line["decision"] for line in lines] == [
        "suppressed",  # would wait for Monday
        "none",
        "suppressed",  # daily data would page now
        "none",
        "suppressed",
        "notify",  # report_ready still goes
        "none",
    ]
    assert lines[0]["deliver_at"] == "2026-11-28T14:00:00Z"  # the window's end, 06:00 PST
    assert "rules-1 (weekly Sat 02:00-06:00): warehouse maintenance" in lines[0]["reason"]
    assert "Sat 2026-11-28 06:00 PST" in lines[0]["reason"]

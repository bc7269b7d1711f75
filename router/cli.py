"""The `router` command: check the rules, simulate decisions, show who is on call."""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, NoReturn

import msgspec
import redis
import typer
from rich.console import Console
from rich.table import Table

from router.config import contact_methods
from router.config.load import RulesInvalid, load_rules
from router.config.settings import Settings, SettingsInvalid, check_channel_lease, load_settings
from router.config.summary import rules_summary
from router.core.message import OutgoingMessage
from router.core.roster import RosterInvalid
from router.core.rotation import Shift, shift_at, shift_json, shift_note, shifts_between
from router.core.rules import Rules
from router.core.rules.team import Analyst, Engineer
from router.core.simulate import simulate
from router.core.times import local_day_span, parse_instant
from router.delivery.channels.compose import NoticeComposer
from router.delivery.channels.trial import send_trial
from router.delivery.mail.compose import KINDS, Composer
from router.delivery.mail.samples import sample
from router.state import connect
from router.state.rosterstore import ChangeKind, RosterStore, change_json
from router.state.sessions import Logins, sign_in_link

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

RulesOption = Annotated[
    Path | None,
    typer.Option("--rules", help="Rules directory [default: $ROUTER_RULES_DIR, else ./rules]"),
]


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def _rules_dir(option: Path | None) -> Path:
    return option or Path(os.environ.get("ROUTER_RULES_DIR") or "rules")


def _load(option: Path | None, exit_code: int = 2) -> Rules:
    directory = _rules_dir(option)
    try:
        return load_rules(directory)
    except RulesInvalid as invalid:
        for issue in invalid.issues:
            err.print(f"{directory}/{issue}", markup=False, soft_wrap=True)
        _fail(f"{len(invalid.issues)} problem(s) in the rules in {directory}", exit_code)


def _instant(text: str | None, rules: Rules, option: str) -> datetime:
    if text is None:
        return datetime.now(UTC)  # the CLI is the edge: it reads the clock, the core never does
    try:
        return parse_instant(text, rules.team.zone)
    except ValueError:
        _fail(f"{option}: {text!r} is not an ISO 8601 date and time")


def _date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"{option}: {text!r} is not a date like 2026-11-26")


@app.command()
def check(rules_dir: RulesOption = None) -> None:
    """Validate a rules directory and print what it says; exit 1 on any problem."""
    rules = _load(rules_dir, exit_code=1)
    for table in rules_summary(rules):
        out.print(table)
    if rules.team.slack and not os.environ.get("SLACK_BOT_TOKEN", "").strip():
        out.print(
            "[yellow]warning[/yellow]: team.yaml's slack needs SLACK_BOT_TOKEN set for the router"
        )
    out.print(f"[green]ok[/green]: {_rules_dir(rules_dir)} is valid")


@app.command("simulate")
def simulate_command(
    at: Annotated[str, typer.Option("--at", help="The instant to decide at (ISO 8601)")],
    source: Annotated[str, typer.Argument(help="JSON Lines file of events, or - for stdin")] = "-",
    rules_dir: RulesOption = None,
) -> None:
    """Print what the router would do with each event, applied in order at one instant."""
    rules = _load(rules_dir)
    now = _instant(at, rules, "--at")
    try:
        stream = sys.stdin if source == "-" else open(source, encoding="utf-8")  # noqa: SIM115
    except OSError as error:
        _fail(f"{source}: {error.strerror}")
    failed = False
    with stream:
        for result in simulate(stream, rules, now):
            failed = failed or "error" in result
            sys.stdout.write(json.dumps(result) + "\n")
    if failed:
        raise typer.Exit(1)


@app.command()
def oncall(
    rules_dir: RulesOption = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Instant (ISO 8601) [default: now]")
    ] = None,
    from_: Annotated[str | None, typer.Option("--from", help="First day (team time)")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last day, included")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    yaml_only: Annotated[
        bool, typer.Option("--yaml-only", help="Ignore the run-time absences and overrides")
    ] = False,
) -> None:
    """Who is on call at an instant, or every shift from one day to another, with the
    running router's absences and overrides (from REDIS_URL) laid over the rules."""
    rules = _load(rules_dir) if yaml_only else _with_roster(_load(rules_dir))
    if (from_ is None) != (to is None):
        _fail("--from and --to go together")
    if from_ is not None and to is not None:
        first, last = _date(from_, "--from"), _date(to, "--to")
        if last < first:
            _fail("--to is before --from")
        shifts = shifts_between(*local_day_span(first, last, rules.team.zone), rules)
        if as_json:
            sys.stdout.write(json.dumps([shift_json(s) for s in shifts], indent=2) + "\n")
        else:
            out.print(_shift_table(shifts, rules, f"On call {first} to {last}"))
        return
    shift = shift_at(_instant(at, rules, "--at"), rules)
    if as_json:
        sys.stdout.write(json.dumps(shift_json(shift), indent=2) + "\n")
    else:
        out.print(_shift_table([shift], rules, "On call"))


def _redis_client() -> redis.Redis:
    url = os.environ.get("REDIS_URL") or Settings.model_fields["redis_url"].default
    return connect.client(url, socket_connect_timeout=2, socket_timeout=5)


def _with_roster(rules: Rules) -> Rules:
    """The rules as the running router sees them; the YAML alone if Redis is not there."""
    try:
        return RosterStore(_redis_client(), rules).rules()
    except redis.RedisError as error:
        err.print(f"note: no run-time absences or overrides (redis: {error})", soft_wrap=True)
        return rules


def _roster() -> tuple[Rules, RosterStore]:
    return (rules := _load(None)), RosterStore(_redis_client(), rules)


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """A roster change refused (RosterInvalid names the field) or Redis failing: the
    command's one line, exit 2."""
    try:
        yield
    except RosterInvalid as error:
        _fail(str(error))
    except redis.RedisError as error:
        _fail(f"redis: {error}")


def _by() -> str:
    return f"cli:{getpass.getuser()}"


override_app = typer.Typer(help="Run-time overrides: someone on call for an interval.")
app.add_typer(override_app, name="override")


@override_app.command("add")
def override_add(
    engineer: Annotated[str, typer.Argument(help="Who is on call")],
    start: Annotated[str, typer.Argument(help="ISO 8601; without an offset, team time")],
    end: Annotated[str, typer.Argument(help="ISO 8601; without an offset, team time")],
    reason: Annotated[str, typer.Option("--reason")] = "",
) -> None:
    """Put ENGINEER on call from START to END, whatever the rotation says."""
    rules, store = _roster()
    with _one_line_errors():
        added = store.add_override(
            engineer,
            _instant(start, rules, "START"),
            _instant(end, rules, "END"),
            reason,
            _by(),
            datetime.now(UTC),
        )
    out.print(f"override {added.id}: {engineer} on call {start} to {end}")


@override_app.command("list")
def override_list() -> None:
    """The run-time overrides as JSON lines (the YAML's are in oncall.yaml)."""
    _, store = _roster()
    with _one_line_errors():
        for item in store.roster().overrides:
            sys.stdout.write(json.dumps(change_json(item)) + "\n")


@override_app.command("remove")
def override_remove(override_id: Annotated[str, typer.Argument(help="The override's id")]) -> None:
    """Remove a run-time override."""
    _remove("override", override_id)


def _remove(kind: ChangeKind, change_id: str) -> None:
    _, store = _roster()
    with _one_line_errors():
        removed = store.remove(kind, change_id, _by(), datetime.now(UTC))
    if removed is None:
        _fail(f"no {kind} {change_id}", 1)
    out.print(f"removed {kind} {change_id} ({removed.engineer})")


@app.command()
def away(
    name: Annotated[str, typer.Argument(help="The engineer")],
    first: Annotated[str, typer.Argument(metavar="FROM", help="First day away (team time)")],
    last: Annotated[str, typer.Argument(metavar="TO", help="Last day away, included")],
    reason: Annotated[str, typer.Option("--reason")] = "",
) -> None:
    """Mark an engineer away for whole days: their shift is covered for those days."""
    _, store = _roster()
    with _one_line_errors():
        added = store.add_absence(
            name, _date(first, "FROM"), _date(last, "TO"), reason, _by(), datetime.now(UTC)
        )
    out.print(f"absence {added.id}: {name} away {first} to {last}")


@app.command()
def back(absence_id: Annotated[str, typer.Argument(help="The absence's id")]) -> None:
    """Remove an absence (`router away` printed its id; GET /v1/absences lists them)."""
    _remove("absence", absence_id)


maintenance_app = typer.Typer(
    help="Maintenance windows: what they cover pages nobody until they end (a P1 still does)."
)
app.add_typer(maintenance_app, name="maintenance")


@maintenance_app.command("add")
def maintenance_add(
    end: Annotated[str, typer.Argument(help="ISO 8601; without an offset, team time")],
    reason: Annotated[str, typer.Option("--reason", help="Why: on every muted incident")],
    pipelines: Annotated[
        list[str] | None, typer.Option("--pipeline", help="A pipeline id (again for more) [all]")
    ] = None,
    types: Annotated[
        list[str] | None, typer.Option("--type", help="An event type (again for more) [all]")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="ISO 8601; without an offset, team time [now]")
    ] = None,
    mute_p1: Annotated[bool, typer.Option("--mute-p1", help="P1s page nobody either")] = False,
) -> None:
    """Set a one-off maintenance window from START (now) to END; prints its id."""
    rules, store = _roster()
    with _one_line_errors():
        added = store.add_window(
            pipelines or "all",
            types,
            _instant(start, rules, "--start"),
            _instant(end, rules, "END"),
            reason,
            not mute_p1,
            _by(),
            datetime.now(UTC),
        )
    covers = added.window().covering()
    out.print(
        f"maintenance {added.id}: {covers} from {_local(added.start, rules)} "
        f"to {_local(added.end, rules)}"
    )


@maintenance_app.command("list")
def maintenance_list() -> None:
    """The windows on now or to come as JSON lines: run-time ones, and the rules' weekly
    ones at their next occurrence."""
    _, store = _roster()
    with _one_line_errors():
        for item in store.window_listing(datetime.now(UTC)):
            sys.stdout.write(json.dumps(item) + "\n")


@maintenance_app.command("end")
def maintenance_end(
    window_id: Annotated[str, typer.Argument(help="The window's id (`maintenance list`)")],
) -> None:
    """End a run-time window now: what it kept from paging is decided again at once."""
    rules, store = _roster()
    with _one_line_errors():
        ended = store.end_window(window_id, _by(), datetime.now(UTC))
    if ended is None:
        _fail(f"no maintenance window {window_id} on now or to come", 1)
    out.print(f"maintenance {window_id} ended at {_local(ended.end, rules)}")


def _shift_table(shifts: list[Shift], rules: Rules, title: str) -> Table:
    table = Table(title=title)
    for column in ("Engineer", "Email", "From (team time)", "To", "Hours", "Note"):
        table.add_column(column)
    for shift in shifts:
        hours = (shift.end - shift.start) / timedelta(hours=1)
        note = shift_note(shift)
        table.add_row(
            shift.engineer,
            shift.email,
            _local(shift.start, rules),
            _local(shift.end, rules),
            f"{hours:g}",
            note,
        )
    return table


def _local(moment: datetime, rules: Rules) -> str:
    return moment.astimezone(rules.team.zone).strftime("%a %Y-%m-%d %H:%M %Z")


@app.command()
def runbook(
    rules_dir: RulesOption = None,
    form: Annotated[str, typer.Option("--format", help="md or html")] = "md",
    out_file: Annotated[Path | None, typer.Option("--out", help="File to write [stdout]")] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Write it as of this instant [default: now]")
    ] = None,
    yaml_only: Annotated[
        bool, typer.Option("--yaml-only", help="Ignore the run-time absences and overrides")
    ] = False,
) -> None:
    """Write the team's runbook from the rules: team, rotation, pipelines, SLAs, paging."""
    from router.core.runbook import render, runbook_blocks

    if form not in ("md", "html"):
        _fail(f"--format: {form!r}: use md or html")
    rules = _load(rules_dir) if yaml_only else _with_roster(_load(rules_dir))
    text = render(runbook_blocks(rules, _instant(at, rules, "--at")), form)  # type: ignore[arg-type]
    if out_file is None:
        sys.stdout.write(text)
        return
    try:
        out_file.write_text(text, encoding="utf-8")
    except OSError as error:
        _fail(f"--out: {out_file}: {error.strerror}")
    err.print(f"runbook written to {out_file}")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsInvalid as error:
        _fail(str(error))


HostOption = Annotated[str, typer.Option("--host", help="Address to listen on")]
PortOption = Annotated[int, typer.Option("--port", help="Port to listen on")]


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")


def _startup(settings: Settings) -> None:
    rules = _load(settings.rules_dir)  # refuse to start on bad rules, with every problem listed
    try:
        check_channel_lease(settings, rules.team.uses_channels())
    except SettingsInvalid as error:
        _fail(str(error))


@app.command()
def api(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8080,
    processes: Annotated[
        int, typer.Option(min=1, help="API processes on one port (one per core for speed)")
    ] = 1,
) -> None:
    """Serve the HTTP API (FastAPI on uvicorn); OpenAPI at /docs."""
    settings = _settings()
    _startup(settings)
    _logging()
    from router.processes import serve  # the service stack loads only for the services

    serve.serve_api(settings, host, port, processes)


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Worker processes")] = 2,
    lane: Annotated[
        str,
        typer.Option(
            help="What this worker takes: 'fold' (events into incidents, P1 batches first), "
            "'deliver' (escalation steps, emails, pushes, chat), 'urgent' (P1 batches "
            "alone), 'ingest' (all but P1 batches, beside an urgent lane) or 'all'. A "
            "deployment runs a fold and a deliver lane, so a slow mail server never holds "
            "up a fold; 'all' suits a single worker for trying it out",
        ),
    ] = "all",
    nice: Annotated[
        int | None,
        typer.Option(
            help="CPU niceness added to this worker and its pool (0-19). By default 10 for "
            "the fold and ingest lanes, so pages and escalations get the cores first "
            "during a storm, and 0 for the others",
        ),
    ] = None,
) -> None:
    """Run a Celery worker: folds events into incidents, sends messages."""
    settings = _settings()
    _startup(settings)
    from router.processes import serve
    from router.queue.tasks import LANES, NICE_BY_LANE

    if lane not in LANES:
        _fail(f"--lane: {lane!r} is not a lane (known: {', '.join(LANES)})")
    niceness = NICE_BY_LANE.get(lane, 0) if nice is None else nice
    if not 0 <= niceness <= 19:
        _fail(f"--nice: {niceness} is not between 0 and 19")
    if niceness:
        os.nice(niceness)  # the pool's processes are forked from this one: they inherit it
    serve.run_worker(settings, concurrency, LANES[lane])


@app.command()
def scheduler() -> None:
    """Run the timer loop: due escalation steps, deferred pages, deadlines."""
    settings = _settings()
    _startup(settings)
    _logging()
    from router.processes import serve

    serve.run_scheduler(settings)


@app.command()
def inbound() -> None:
    """Take replies to page emails by SMTP (ROUTER_INBOUND_HOST:PORT): `ack` or
    `resolve` from the address paged acts as that engineer."""
    settings = _settings()
    _startup(settings)
    _logging()
    from router.processes.inbound import run_inbound

    run_inbound(settings)


@app.command()
def up(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8080,
    api_processes: Annotated[
        int,
        typer.Option(
            min=1, help="API processes on the port (a P1 never waits behind a storm in one)"
        ),
    ] = 2,
) -> None:
    """Run api, worker and scheduler together for local use (and Redis if none answers)."""
    settings = _settings()
    _startup(settings)
    from router.processes import serve

    serve.up(settings, host, port, api_processes)


@app.command("login-link")
def login_link_command(
    email: Annotated[str, typer.Argument(help="The person's address in team.yaml")],
) -> None:
    """Print a fresh console sign-in link for a person of team.yaml, made in the running
    router's Redis with its ROUTER_SECRET_KEY (for operators; it works once, 15 minutes)."""
    settings = _settings()
    rules = _load(settings.rules_dir)
    team = rules.team
    wanted = email.strip().lower()
    people: list[Engineer | Analyst] = [*team.engineers, *team.analysts]
    person = next((p for p in people if str(p.email).lower() == wanted), None)
    if person is None:
        _fail(f"{email!r} is not the address of anyone in team.yaml", 1)
    secret = settings.secret_key.get_secret_value()
    if not secret:
        _fail("ROUTER_SECRET_KEY is not set: use the running router's, or its links will not work")
    client = connect.client(settings.redis_url)
    try:
        token = Logins(secret.encode()).start_now(client, person.name)
    except redis.RedisError as error:
        _fail(f"cannot reach Redis at {settings.redis_url}: {error}")
    finally:
        client.close()
    print(sign_in_link(settings.public_url, token))


def _composer(settings: Settings, rules: Rules) -> Composer:
    secret = settings.secret_key.get_secret_value() or "preview-only"
    return Composer(
        settings.templates_dir, rules, settings.public_url, secret.encode(), settings.link_ttl_s
    )


def _sample(settings: Settings, kind: str) -> OutgoingMessage:
    rules = _load(settings.rules_dir)
    try:
        return sample(kind, _composer(settings, rules), rules)
    except ValueError as error:
        _fail(str(error))


KindArgument = Annotated[str, typer.Argument(help=f"One of: {', '.join(KINDS)}")]


@app.command()
def preview(
    kind: KindArgument,
    out: Annotated[Path | None, typer.Option("--out", help="HTML file to write")] = None,
) -> None:
    """Render a message with realistic data: HTML to a file, the text part to stdout."""
    message = _sample(_settings(), kind)
    target = out or Path("var/preview") / f"{kind}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(message.html, encoding="utf-8")
    sys.stdout.write(f"Subject: {message.subject}\nTo: {', '.join(message.to)}\n\n{message.text}")
    err.print(f"HTML written to {target}")


@app.command("send-test")
def send_test(
    to: Annotated[
        str, typer.Option("--to", help="An engineer's name (team.yaml), or an email address")
    ],
    channel: Annotated[
        str,
        typer.Option(
            "--channel",
            help="all (email and every contact method), email, or a notification URL to try",
        ),
    ] = "all",
    kind: Annotated[str, typer.Option("--kind", help="Email message kind")] = "page",
) -> None:
    """Try a person's channels: a sample email and a test notice to each contact method.
    One line per channel; exit 1 if any failed."""
    settings = _settings()
    rules = _load(settings.rules_dir)
    person = next((p for p in rules.team.engineers if p.name == to), None)
    if person is None and "@" not in to:
        _fail(f"--to: {to!r} is neither an engineer in team.yaml nor an email address")
    if channel not in ("all", "email"):
        if not contact_methods.is_valid(channel):
            _fail(f"--channel: {contact_methods.masked(channel)} is not a URL apprise can use")
        if person is None:
            _fail("--channel URL: --to must name an engineer")
    failed = False
    if channel in ("all", "email"):
        failed = not _send_test_email(settings, kind, str(person.email) if person else to)
    if person is None or channel == "email":
        urls = []
    else:
        urls = person.contact_methods if channel == "all" else [channel]
    if person is not None and urls:
        from router.delivery.channels.apprise_backend import (
            AppriseBackend,  # apprise: slow to import
        )

        backend = AppriseBackend(settings.channel_timeout_s)
        notices = _notices(settings, rules)
        for tried in send_trial(backend, notices, person.name, urls, "router send-test"):
            if tried.failure is None:
                out.print(f"sent a test to {tried.method}", markup=False)
            else:
                failed = True
                err.print(f"error: {tried.method}: {tried.failure}", markup=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


def _send_test_email(settings: Settings, kind: str, address: str) -> bool:
    from router.delivery.mail.backends import DeliveryFailed, backend_from

    message = _sample(settings, kind).model_copy(
        update={"to": [address], "idempotency_key": f"send-test:{uuid.uuid4().hex}"}
    )
    backend = backend_from(settings)
    try:
        backend.send(message, settings.email_from, datetime.now(UTC))
    except DeliveryFailed as error:
        err.print(f"error: {backend.name}: {error}", markup=False, soft_wrap=True)
        return False
    except Exception as error:  # network: refused, timed out, TLS; one line, no traceback
        said = f"error: {backend.name}: could not send: {type(error).__name__}: {error}"
        err.print(said, markup=False, soft_wrap=True)
        return False
    out.print(f"sent a {kind} message to {address} through {backend.name}", markup=False)
    return True


def _notices(settings: Settings, rules: Rules) -> NoticeComposer:
    return NoticeComposer(_composer(settings, rules), settings.templates_dir.parent / "push")


@app.command()
def keygen() -> None:
    """Print a fresh random routing key for ROUTER_ROUTING_KEYS (name=key)."""
    import secrets

    out.print(secrets.token_hex(16))


@app.command("dead-letters")
def dead_letters_command(
    action: Annotated[str, typer.Argument(help="list or retry")] = "list",
) -> None:
    """List the events whose fold kept failing, or queue them all again (retry)."""
    from router.state import deadletters
    from router.state.publish import redis_sender

    if action not in ("list", "retry"):
        _fail(f"dead-letters: unknown action {action!r}: use list or retry")
    settings = _settings()
    rules = load_rules(settings.rules_dir)
    client = connect.client(settings.redis_url)
    try:
        if action == "list":
            for letter in deadletters.listing(client, rules):
                sys.stdout.write(msgspec.json.encode(letter).decode() + "\n")
            return
        count = deadletters.retry_all(client, rules, redis_sender(client))
    except redis.RedisError as error:
        _fail(f"redis: {error}")
    out.print(f"queued {count} dead letter(s) again")

"""The command line: a thin click layer over the library (docs/cli.md is its reference)."""

from __future__ import annotations

import errno
import functools
import os
import re
import signal
import sqlite3
import sys
from pathlib import Path

import click

from policywatch import __version__
from policywatch.errors import ConfigError, PolicywatchError, UsageError

DEFAULT_DB = "data/policywatch.db"
# A path the user gave that cannot be used (exit 2, bad input); other OS errors are failures (exit 3).
PATH_ERRORS = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.EACCES, errno.EPERM, errno.EROFS}
DEFAULT_WATCHLIST = "watchlist.yaml"


class Context:
    def __init__(self, db: str, watchlist: str, quiet: bool, verbose: bool):
        self.db_path = Path(db)
        self.watchlist_path = Path(watchlist)
        self.quiet = quiet
        self.verbose = verbose

    def watchlist(self, check_url=None):
        """The watchlist (``check_url``: see ``load_watchlist``)."""
        from policywatch.watchlist import load_watchlist

        path = self.watchlist_path
        if not path.exists() and str(path) == DEFAULT_WATCHLIST:
            # Outside a project folder, fall back to the watchlist shipped with policywatch.
            packaged = Path(__file__).parent / "defaults" / "watchlist.yaml"
            if packaged.exists():
                if not self.quiet:  # said, so that a watchlist made later (add) is no surprise
                    click.echo(f"policywatch: no ./watchlist.yaml; using the one shipped with policywatch ({packaged})",
                               err=True)
                path = packaged
        return load_watchlist(path, check_url=check_url)

    def store(self, create: bool = True):
        from policywatch.store import Store

        return Store.open(self.db_path, create=create)


def fail(message: str, code: int = 2) -> None:
    click.echo(f"policywatch: {message}", err=True)
    sys.exit(code)


def format_option(kind: str):
    """--format, its choices read from the renderer table of ``kind`` results (report.RENDERERS)."""
    from policywatch.report import formats

    return click.option("--format", "fmt", type=click.Choice(formats(kind)), default="text", show_default=True)


def emit(result, fmt: str, **options) -> None:
    """Print ``result`` in ``fmt``: every command's output goes through here."""
    from policywatch.report import render

    click.echo(render(result, fmt, **options), nl=False)


def handle_errors(func):
    """Turn library errors into one-line messages and the exit codes of docs/cli.md."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(problem, err=True)
            sys.exit(2)
        except PolicywatchError as exc:
            fail(str(exc), exc.exit_code)
        except sqlite3.DatabaseError as exc:  # a damaged file, a full disk: say so, keep what is stored
            from policywatch.store import database_problem

            context = click.get_current_context(silent=True)
            fail(database_problem(context.obj.db_path if context and isinstance(context.obj, Context) else None,
                                  exc), 3)
        except KeyboardInterrupt:
            fail("interrupted; everything stored so far is kept", 130)
        except BrokenPipeError:
            sys.exit(0)
        except OSError as exc:  # an output path that cannot be written, a full disk
            names = " → ".join(re.sub(r"(^|/)\.([^/]+)\.partial$", r"\1\2", str(name))  # the file asked for
                               for name in (exc.filename, exc.filename2) if name is not None)
            fail(f"{names or 'a file'}: {exc.strerror or exc}", 2 if exc.errno in PATH_ERRORS else 3)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", envvar="POLICYWATCH_DB", default=DEFAULT_DB, show_default=True,
              help="SQLite database (env POLICYWATCH_DB).")
@click.option("--watchlist", envvar="POLICYWATCH_WATCHLIST", default=DEFAULT_WATCHLIST, show_default=True,
              help="Watchlist YAML (env POLICYWATCH_WATCHLIST).")
@click.option("-q", "--quiet", is_flag=True, help="Print only what changed or failed (cron).")
@click.option("-v", "--verbose", is_flag=True, help="Say more.")
@click.version_option(__version__, prog_name="policywatch")
@click.pass_context
def cli(ctx: click.Context, db: str, watchlist: str, quiet: bool, verbose: bool) -> None:
    """Watch privacy policies; store every version; tell people when they change in a way that matters."""
    ctx.obj = Context(db, watchlist, quiet, verbose)


# -- validate / list ---------------------------------------------------------------------------

@cli.command()
@click.pass_obj
@handle_errors
def validate(obj: Context) -> None:
    """Check the watchlist; exit 2 with file:line errors if anything is wrong."""
    from policywatch.notify import usable_url

    watchlist = obj.watchlist(check_url=usable_url)  # apprise is asked here only: a check need not load it
    for warning in watchlist.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not obj.quiet:
        targets = f", {len(watchlist.targets)} notify target(s)" if watchlist.targets else ""
        click.echo(f"{watchlist.path}: OK — {len(watchlist)} polic{'y' if len(watchlist) == 1 else 'ies'}{targets}")


@cli.command()
@click.argument("url")
@click.option("--id", "policy_id", help="The policy's id (default: from the site and page, e.g. acme-privacy).")
@click.option("--name", help="Its name in messages (default: the page's title).")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@click.option("--select", "selector", help="CSS selector of the policy text on the page.")
@click.option("--dry-run", is_flag=True, help="Fetch and print the entry; leave the watchlist as it is.")
@click.pass_obj
@handle_errors
def add(obj: Context, url: str, policy_id: str | None, name: str | None, tags: tuple[str, ...],
        selector: str | None, dry_run: bool) -> None:
    """Fetch URL once and add it to the watchlist, keeping the file's comments and layout."""
    from policywatch.watchlist_file import add_policy

    added = add_policy(obj.watchlist_path, url, policy_id=policy_id, name=name, tags=tags, select=selector,
                       dry_run=dry_run)
    if added.warning:
        click.echo(f"policywatch: warning: {url} does not look like a policy: {added.warning}", err=True)
    click.echo("\n".join(added.lines))
    words = f"{added.words} word{'s' if added.words != 1 else ''} of policy text"
    if added.written:
        count = f"{added.policies} polic{'y' if added.policies == 1 else 'ies'}"
        click.echo(f"added '{added.entry['id']}' to {added.path} ({count}; the page has {words}); "
                   f"`policywatch check {added.entry['id']}` stores its first version", err=True)
    else:
        click.echo(f"not written (--dry-run); the page has {words}", err=True)


@cli.command(name="list")
@format_option("list")
@click.pass_obj
@handle_errors
def list_(obj: Context, fmt: str) -> None:
    """The watched policies with their last check and current version."""
    from policywatch.report import PolicyList

    watchlist = obj.watchlist()
    rows, reasons = {}, {}
    if obj.db_path.exists():
        with obj.store() as store:
            rows, reasons = store.policy_rows(), store.failing_reasons()
    from policywatch.secrets import redact_page

    entries = []
    for policy in watchlist:
        row = rows.get(policy.id, {})
        entries.append({"id": policy.id, "name": policy.name, "url": redact_page(policy.url),
                        "tags": list(policy.tags),
                        "notify": list(policy.notify), "enabled": policy.enabled,
                        "versions": row.get("versions") or 0, "current_version": row.get("current_number"),
                        "last_checked_at": row.get("last_checked_at"), "last_outcome": row.get("last_outcome"),
                        "reason": reasons.get(policy.id)})
    from policywatch.notify import describe_targets

    targets = [{"name": t.name, "urls": list(t.urls), "min_severity": t.min_severity,
                "categories": list(t.categories), "mode": t.mode, "tags": list(t.tags)}
               for t in describe_targets(watchlist)]
    emit(PolicyList(entries, targets), fmt)


# -- check ----------------------------------------------------------------------------------------

@cli.command()
@click.argument("ids", nargs=-1)
@click.option("--tag", "tags", multiple=True, help="Only policies with this tag (repeatable).")
@format_option("check")
@click.option("--no-notify", is_flag=True, help="Store and judge, but send nothing.")
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Parallel fetches (never more than one per host).")
@click.option("--exit-code", is_flag=True, help="Exit 1 when a material change was found (like git diff).")
@click.option("--min-severity", type=click.Choice(["none", "low", "medium", "high"]),
              help="With -q (cron): print changes this severe or more (default: the watchlist's "
                   "min_severity, else low). Failures always print.")
@click.pass_obj
@handle_errors
def check(obj: Context, ids: tuple[str, ...], tags: tuple[str, ...], fmt: str, no_notify: bool,
          workers: int, exit_code: bool, min_severity: str | None) -> None:
    """Fetch the policies, store new versions, judge changes, and report what changed.

    Exit 0 when every policy was checked, 3 when some failed, 1 with --exit-code when a
    change was material.
    """
    from policywatch.monitor import check as run_check

    watchlist = obj.watchlist()
    watchlist.select(ids, tags)  # fail on an unknown id before touching the database
    interactive = sys.stderr.isatty() and not obj.quiet and fmt == "text"
    cron = obj.quiet or not sys.stdout.isatty()
    with obj.store() as store:
        if interactive:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            console = Console(stderr=True)
            with Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          TextColumn("{task.fields[last]}"), console=console, transient=True) as progress:
                task = progress.add_task("check", total=None, last="")
                report = run_check(
                    watchlist, store, ids=ids, tags=tags, workers=workers, notify=not no_notify,
                    on_start=lambda n: progress.update(task, total=n),
                    on_result=lambda r: progress.update(task, advance=1, last=f"{r.policy_id}: {r.outcome}"))
        else:
            report = run_check(watchlist, store, ids=ids, tags=tags, workers=workers, notify=not no_notify)
    emit(report, fmt, quiet=cron, min_severity=min_severity or watchlist.min_severity or "low")
    sys.exit(report.exit_code_for(exit_code))


def _rate(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*min)?\s*", text)
    if not match:
        raise UsageError(f"--rate must be a number of requests a minute like 20 or 20/min, not '{text}'")
    return float(match.group(1))


@cli.command()
@click.argument("ids", nargs=-1)
@click.option("--tag", "tags", multiple=True, help="Only policies with this tag (repeatable).")
@click.option("--from", "since", help="Earliest capture: YYYY, YYYY-MM-DD or an ISO time.")
@click.option("--to", "until", help="Latest capture (default: now).")
@click.option("--cdx-url", envvar="POLICYWATCH_CDX_URL", help="CDX endpoint (default: the Internet Archive's; "
              "pywb: http://host/COLL/cdx). Env POLICYWATCH_CDX_URL.")
@click.option("--replay-url", envvar="POLICYWATCH_REPLAY_URL", help="Raw replay template with {timestamp} and "
              "{url}, e.g. http://host/COLL/{timestamp}id_/{url}. Env POLICYWATCH_REPLAY_URL.")
@click.option("--strategy", type=click.Choice(["changes", "all"]), default="changes", show_default=True,
              help="changes: bisect to the change points; all: every capture with new bytes.")
@click.option("--probe-every", type=click.IntRange(1, 10_000), default=10, show_default=True,
              help="With --strategy changes: any text in effect for this many captures is found.")
@click.option("--rate", "rate_text", default="20/min", show_default=True,
              help="Requests a minute to the archive (0 = no limit, for your own archive).")
@click.option("--notify", is_flag=True, help="Send notifications for the material changes found.")
@format_option("backfill")
@click.pass_obj
@handle_errors
def backfill(obj: Context, ids: tuple[str, ...], tags: tuple[str, ...], since: str | None, until: str | None,
             cdx_url: str | None, replay_url: str | None, strategy: str, probe_every: int, rate_text: str,
             notify: bool, fmt: str) -> None:
    """Import policies' history from the Wayback Machine or a pywb archive.

    Resumable: run it again after an interruption and it fetches nothing twice. Exit 3 when a
    policy could not be completed (the archive refused or failed); what was fetched is kept.
    """
    from policywatch.archive import Archive, stamp
    from policywatch.history_import import backfill as run_backfill

    watchlist = obj.watchlist()
    watchlist.select(ids, tags)
    archive = Archive.configured(cdx_url, replay_url)
    rate = _rate(rate_text)
    stamp(since), stamp(until)  # a bad date fails before anything is fetched
    options = dict(ids=ids, tags=tags, since=since, until=until, archive=archive, strategy=strategy,
                   probe_every=probe_every, rate=rate, notify=notify)
    interactive = sys.stderr.isatty() and not obj.quiet and fmt == "text"
    with obj.store() as store:
        if interactive:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(TextColumn("{task.fields[policy]}"), BarColumn(), TimeElapsedColumn(),
                          TextColumn("{task.description}"), console=Console(stderr=True),
                          transient=True) as progress:
                task = progress.add_task("listing captures", total=None, policy="")

                def show(r) -> None:
                    # --strategy all looks at every distinct capture; changes at an unknown share of them
                    progress.update(task, policy=r.policy_id, completed=r.fetched + r.known,
                                    total=r.distinct if strategy == "all" and r.distinct else None,
                                    description=f"{r.listed} listed, {r.fetched} fetched, {r.known} known, "
                                                f"{r.skipped} skipped, {r.versions} versions")

                report = run_backfill(watchlist, store, on_progress=show, **options)
        else:
            report = run_backfill(watchlist, store, **options)
    emit(report, fmt, quiet=obj.quiet, archive_host=archive.host)
    sys.exit(report.exit_code)


# -- history / show ------------------------------------------------------------------------------

def parse_when(text: str, end: bool = True) -> str:
    """'2019', '2019-06', '2019-06-01', an ISO time or 'now' → an ISO UTC bound for comparisons.

    Stored times are ``…:SSZ`` (archive captures) or ``…:SS.ffffffZ`` (live checks), compared as
    text: an end bound is written ``…:SSZ`` (after every time within that second: "." sorts before
    "Z") and a start bound ``…:SS`` (before every one of them), so a time printed by ``history``
    is on both sides of itself."""
    from datetime import datetime, timedelta, timezone

    def bound(when: datetime) -> str:
        return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + ("Z" if end else "")

    def last_second(first: datetime, following: datetime) -> datetime:
        return following - timedelta(seconds=1) if end else first

    text = text.strip()
    if text.lower() in ("now", "today", "latest"):
        return bound(datetime.now(timezone.utc))
    if ago := re.fullmatch(r"(\d{1,5})\s*([dwmy])", text.lower()):  # 90d, 12w, 6m, 1y: that long ago
        days = int(ago.group(1)) * {"d": 1, "w": 7, "m": 30, "y": 365}[ago.group(2)]
        return bound(datetime.now(timezone.utc) - timedelta(days=days))
    try:
        if re.fullmatch(r"\d{4}", text):
            first = datetime(int(text), 1, 1, tzinfo=timezone.utc)
            return bound(last_second(first, first.replace(year=first.year + 1)))
        if re.fullmatch(r"\d{4}-\d{2}", text):
            first = datetime.strptime(text, "%Y-%m").replace(tzinfo=timezone.utc)
            following = first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
            return bound(last_second(first, following))
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            first = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
            return bound(last_second(first, first + timedelta(days=1)))
        from dateutil import parser as dateparser

        when = dateparser.isoparse(text)
    except (ValueError, OverflowError):  # 2019-13, 2019-02-30, and what is no date at all
        raise UsageError(f"cannot read the date '{text}' (use YYYY, YYYY-MM, YYYY-MM-DD, an ISO time or a span "
                         "such as 90d, 12w, 6m)") from None
    return bound(when if when.tzinfo else when.replace(tzinfo=timezone.utc))


def _stored_policy(store, policy_id: str) -> dict:
    rows = store.policy_rows()
    if policy_id not in rows:
        import difflib

        hint = difflib.get_close_matches(policy_id, rows, n=1)
        more = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise UsageError(f"no stored policy '{policy_id}'{more}")
    return rows[policy_id]


@cli.command()
@click.argument("policy_id", metavar="ID")
@format_option("history")
@click.pass_obj
@handle_errors
def history(obj: Context, policy_id: str, fmt: str) -> None:
    """The texts in effect over time, oldest first."""
    from policywatch.report import History, history_entries

    with obj.store(create=False) as store:
        policy = _stored_policy(store, policy_id)
        timeline = store.timeline(policy_id)
        entries = history_entries(timeline, store.reviews([row["id"] for row in timeline]))
    emit(History(policy, entries), fmt)


def version_options(what: str):
    """ID, --version N and --at DATE: one stored version of a policy (see _pick_version)."""
    def decorate(command):
        command = click.option("--at", "at", help=f"The {what} in effect at DATE (YYYY, YYYY-MM-DD, ISO time).")(
            command)
        command = click.option("--version", "number", type=int, help="Version number (see history).")(command)
        return click.argument("policy_id", metavar="ID")(command)
    return decorate


def _pick_version(store, policy_id: str, number: int | None, at: str | None) -> tuple[dict, dict]:
    """The stored policy and its version number N, the one in effect at a date, or the current one."""
    if at is not None and not at.strip():  # "--at $DAY" with DAY unset: not "the current version"
        raise UsageError("--at needs a date (2024-06-01, 2024-06, 2024, an ISO time or 'now')")
    if number is not None and at:
        raise UsageError("give --version or --at, not both")
    policy = _stored_policy(store, policy_id)
    if number is not None:
        version = store.version(policy_id, number)
        if version is None:
            raise UsageError(f"{policy_id} has no version {number}")
    elif at:
        version = store.in_effect_at(policy_id, parse_when(at))
        if version is None:
            raise UsageError(f"{policy_id} has no version stored on or before {at}")
    else:
        if not policy["current_version_id"]:
            raise UsageError(f"{policy_id} has no version stored yet")
        version = store.version_by_id(policy["current_version_id"])
    return policy, version


@cli.command()
@version_options("text")
@format_option("version")
@click.option("--raw", is_flag=True, help="The page as it was fetched or archived (its bytes), not its text.")
@click.pass_obj
@handle_errors
def show(obj: Context, policy_id: str, number: int | None, at: str | None, fmt: str, raw: bool) -> None:
    """One stored version of a policy (the current one by default)."""
    from policywatch.report import VersionView

    with obj.store(create=False) as store:
        policy, version = _pick_version(store, policy_id, number, at)
        if raw:
            if not version["snapshot_sha256"]:
                raise UsageError(f"{policy_id} v{version['number']}: no raw page was kept for this version "
                                 f"(its text came from {version['source']} without one)")
            content, _, _ = store.snapshot(version["snapshot_sha256"])
            sys.stdout.buffer.write(content)
            sys.stdout.flush()
            return
        review = _review_of(store, store.entering_change(policy_id, version["id"]))
    emit(VersionView(policy, version, review), fmt)


@cli.command()
@version_options("version")
@format_option("facts")
@click.pass_obj
@handle_errors
def facts(obj: Context, policy_id: str, number: int | None, at: str | None, fmt: str) -> None:
    """What a version says the company does: its practice facts, with evidence."""
    from policywatch.judge import load_rules
    from policywatch.report import FactsView
    from policywatch.timeline import version_facts

    with obj.store(create=False) as store:
        policy, version = _pick_version(store, policy_id, number, at)
        found = version_facts(store, version)
    emit(FactsView(policy, version, found, load_rules().fingerprint), fmt)


@cli.command()
@version_options("version")
@click.argument("out", metavar="OUT.zip", type=click.Path(dir_okay=False, writable=True))
@click.pass_obj
@handle_errors
def evidence(obj: Context, policy_id: str, number: int | None, at: str | None, out: str) -> None:
    """A dated zip of one version for legal hold: raw page, response, text, facts, diff, sha256 manifest."""
    from policywatch.evidence import write_evidence

    with obj.store(create=False) as store:
        policy, version = _pick_version(store, policy_id, number, at)
        bundle = write_evidence(store, policy, version, out)
    if not obj.quiet:
        click.echo(f"{bundle.path}: {policy_id} v{version['number']} ({version['captured_at'][:10]}), "
                   f"{len(bundle.files)} files and their sha256 in manifest.json and SHA256SUMS")


# -- diff-files --------------------------------------------------------------------------------------

def _load_document(source: str):
    """A local file (HTML, Markdown or text, told apart by content) or a URL → Document."""
    from policywatch.fetch import Fetcher
    from policywatch.normalize import normalize_text

    with Fetcher(workers=1) as fetcher:
        result = fetcher.fetch(source, retries=1, backoff=1.0)
    if not result.ok:
        # A file of the user's that cannot be read (not there, no text) is bad input (2); a page that
        # could not be fetched failed at run time (3).
        local = not source.startswith(("http://", "https://"))
        raise (UsageError if local else PolicywatchError)(f"{source}: {result.error}")
    return normalize_text(result.text or "", content_type=result.content_type).document


def _emit_diff(diff, judgement, old_label: str, new_label: str, fmt: str, review: dict | None = None,
               header=None) -> None:
    from policywatch.report import DiffView

    emit(DiffView(diff, judgement, old_label, new_label, review, header), fmt, color=sys.stdout.isatty())


@cli.command(name="diff-files")
@click.argument("old")
@click.argument("new")
@format_option("diff")
@click.option("--exit-code", is_flag=True, help="Exit 1 when the change is material (like git diff).")
@handle_errors
def diff_files(old: str, new: str, fmt: str, exit_code: bool) -> None:
    """Compare two local files (HTML, Markdown or text) or URLs."""
    from policywatch.judge import compare

    diff, judgement = compare(_load_document(old), _load_document(new))
    _emit_diff(diff, judgement, old, new, fmt)
    sys.exit(1 if exit_code and judgement.material else 0)


@cli.command()
@click.argument("policy_id", metavar="ID")
@click.option("--from", "from_", help="Version number or DATE (default: the version before --to).")
@click.option("--to", "to", help="Version number or DATE (default: the current version).")
@format_option("diff")
@click.option("--exit-code", is_flag=True, help="Exit 1 when the change is material.")
@click.pass_obj
@handle_errors
def diff(obj: Context, policy_id: str, from_: str | None, to: str | None, fmt: str, exit_code: bool) -> None:
    """Compare two stored versions of a policy (by number or date; default: the last two)."""
    from policywatch.document import Document
    from policywatch.judge import compare
    from policywatch.timeline import page_header

    with obj.store(create=False) as store:
        policy = _stored_policy(store, policy_id)
        timeline = store.timeline(policy_id)
        if not timeline:
            raise UsageError(f"{policy_id} has no version stored yet")
        new = _resolve_version(store, policy_id, to, end=True) if to else store.version_by_id(
            policy["current_version_id"])
        if from_:
            old = _resolve_version(store, policy_id, from_, end=False)
        else:
            # the text in effect just before `new` took effect
            entries = [e for e in timeline if e["version_id"] == new["id"]]
            previous = entries[-1]["previous_version_id"] if entries else None
            if previous is None:
                raise UsageError(f"{policy_id} v{new['number']} is the first version; nothing to compare with")
            old = store.version_by_id(previous)
        # A review of this very change (the move from old to new) is shown beside the verdict.
        moves = [e for e in timeline if e["version_id"] == new["id"] and e["previous_version_id"] == old["id"]]
        review = _review_of(store, moves[-1] if moves else None)
        header = page_header(store, policy, old, new)
    diff_, judgement = compare(Document.from_markdown(old["text"]), Document.from_markdown(new["text"]))
    label = lambda v: f"{policy_id} v{v['number']} ({v['captured_at'][:10]})"  # noqa: E731
    _emit_diff(diff_, judgement, label(old), label(new), fmt, review, header)
    sys.exit(1 if exit_code and judgement.material else 0)


def _resolve_version(store, policy_id: str, spec: str, end: bool) -> dict:
    """'3' → version 3; '2019', '2019-06-01', 'now' → the version in effect then."""
    if spec.isdigit() and len(spec) < 4:
        version = store.version(policy_id, int(spec))
        if version is None:
            raise UsageError(f"{policy_id} has no version {spec}")
        return version
    version = store.in_effect_at(policy_id, parse_when(spec, end=end))
    if version is None and not end:
        # "--from 2019" when history starts later: start at the first version, and say so.
        first = store.timeline(policy_id)[0]
        version = store.version_by_id(first["version_id"])
        if first["captured_at"] > parse_when(spec, end=True):
            click.echo(f"policywatch: {policy_id}'s history starts {first['captured_at'][:10]}; comparing from "
                       f"its first version", err=True)
    if version is None:
        first = store.timeline(policy_id)[0]["captured_at"][:10]
        raise UsageError(f"{policy_id} has no version in effect at {spec} (history starts {first})")
    return version


@cli.command(name="report")
@click.option("--since", default="90d", show_default=True,
              help="Start: DATE or a span back from now (90d, 12w, 6m, 1y).")
@click.option("--until", default="now", show_default=True, help="End: DATE.")
@click.option("--tag", "tags", multiple=True, help="Only policies with this tag (repeatable).")
@format_option("period")
@click.pass_obj
@handle_errors
def period_report(obj: Context, since: str, until: str, tags: tuple[str, ...], fmt: str) -> None:
    """Every change in a period, most severe first, and the policies that failed: for a review's minutes."""
    from policywatch.report import PeriodReport, review_json

    start, end = parse_when(since, end=False), parse_when(until)
    if start > end:
        raise UsageError(f"--since {since} comes after --until {until}")
    tagged = {policy.id for policy in obj.watchlist().select((), tags)} if tags else None
    with obj.store(create=False) as store:
        changes = [c for c in store.changes_between(start, end) if tagged is None or c["policy_id"] in tagged]
        reviews = store.reviews([c["id"] for c in changes])
        troubles = [t for t in store.troubles_between(start, end) if tagged is None or t["policy_id"] in tagged]
    for change in changes:
        change["review"] = review_json(reviews.get(change["id"]))
    emit(PeriodReport(start, end, changes, troubles), fmt)


@cli.command()
@click.argument("out", metavar="OUT")
@click.argument("policy_ids", nargs=-1, metavar="[IDS]...")
@click.option("--tag", "tags", multiple=True, help="Also the policies with this tag (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["zip", "git"]), default="zip", show_default=True,
              help="A zip of files, or a git repository with one commit per change.")
@click.pass_obj
@handle_errors
def export(obj: Context, out: str, policy_ids: tuple[str, ...], tags: tuple[str, ...], fmt: str) -> None:
    """The dataset: every stored version as Markdown, with facts, metadata (CSV, JSON) and a README."""
    from policywatch.export import export_git, export_zip

    with obj.store(create=False) as store:
        wanted = None
        if policy_ids or tags:
            stored = store.policy_rows()
            unknown = [p for p in policy_ids if p not in stored]
            if unknown:
                raise UsageError(f"no stored policy {', '.join(repr(p) for p in unknown)}")
            wanted = set(policy_ids) | ({p.id for p in obj.watchlist().select((), tags)} if tags else set())
        done = (export_git if fmt == "git" else export_zip)(store, out, wanted)
    if not obj.quiet:
        commits = f", {done.commits} commits" if fmt == "git" else ""
        policies = f"{done.policies} polic{'y' if done.policies == 1 else 'ies'}"
        click.echo(f"{done.path}: {policies}, {done.versions} version{'' if done.versions == 1 else 's'}{commits}")


@cli.command()
@click.argument("out", metavar="OUT_DIR")
@click.option("--tag", "tags", multiple=True, help="Only policies with this tag (repeatable).")
@click.option("--min-severity", type=click.Choice(["low", "medium", "high"]),
              help="Changes in feeds and as 'last change' (default: material changes).")
@click.option("--since", help="Only changes since DATE (or a span: 90d, 12w, 6m, 1y).")
@click.option("--base-url", help="Where the site will be served (absolute links in the feeds).")
@click.option("--changelog", "changelog", metavar="ID",
              help="A customer-facing changelog of policy ID: one page and one feed, in plain words.")
@click.pass_obj
@handle_errors
def publish(obj: Context, out: str, tags: tuple[str, ...], min_severity: str | None, since: str | None,
            base_url: str | None, changelog: str | None) -> None:
    """A static site (works from file://) with Atom feeds of what changed, in plain words."""
    from policywatch.publish import publish as publish_site
    from policywatch.publish import publish_changelog

    start = parse_when(since, end=False) if since else None
    if start is not None and start > parse_when("now"):
        raise UsageError(f"--since {since} is in the future: nothing to publish yet")
    if base_url and not re.match(r"https?://", base_url):
        raise UsageError(f"--base-url must be an http(s) URL, not {base_url!r}")
    with obj.store(create=False) as store:
        if changelog:
            _stored_policy(store, changelog)
            done = publish_changelog(store, out, changelog, min_severity=min_severity or "low", since=start,
                                     base_url=base_url)
        else:
            watchlist = obj.watchlist()
            tagged = {p.id: list(p.tags) for p in watchlist.policies}
            wanted = [p.id for p in watchlist.select((), tags)] if tags else list(store.policy_rows())
            done = publish_site(store, out, wanted, tags=tagged, min_severity=min_severity, since=start,
                                base_url=base_url)
    if not obj.quiet:
        removed = f", {len(done.removed)} removed" if done.removed else ""
        click.echo(f"{done.out}: {len(done.written)} files written, {done.unchanged} unchanged{removed}")


@cli.command(name="datasette", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--metadata-only", is_flag=True, help="Print the metadata (JSON) for a Datasette run elsewhere.")
@click.argument("datasette_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
@handle_errors
def datasette_command(obj: Context, metadata_only: bool, datasette_args: tuple[str, ...]) -> None:
    """Open the database in Datasette with canned queries (extra arguments go to `datasette serve`)."""
    import importlib.util
    import json
    import subprocess
    import tempfile

    from policywatch.explore import datasette_metadata

    metadata = datasette_metadata(obj.db_path)
    if metadata_only:
        click.echo(json.dumps(metadata, indent=2))
        return
    if not obj.db_path.exists():
        raise UsageError(f"{obj.db_path}: no database yet (run `policywatch check` first, or give --db)")
    if importlib.util.find_spec("datasette") is None:
        raise UsageError("Datasette is not installed: pip install 'policywatch[datasette]' "
                         "(or run your own with --metadata-only > metadata.json)")
    with tempfile.TemporaryDirectory(prefix="policywatch-") as folder:
        path = Path(folder) / "metadata.json"
        path.write_text(json.dumps(metadata), encoding="utf-8")
        command = [sys.executable, "-m", "datasette", "serve", str(obj.db_path), "--metadata", str(path),
                   *datasette_args]
        sys.exit(subprocess.call(command))


# -- review ------------------------------------------------------------------------------------------

@cli.command()
@click.option("--tag", "tags", multiple=True, help="Only policies with this tag (repeatable).")
@click.option("--exit-code", is_flag=True, help="Exit 1 when something is left to review.")
@format_option("inbox")
@click.pass_obj
@handle_errors
def inbox(obj: Context, tags: tuple[str, ...], exit_code: bool, fmt: str) -> None:
    """Material changes nobody has reviewed yet, most severe first."""
    from policywatch.report import Inbox
    from policywatch.vocabulary import SEVERITY_RANK

    tagged = None
    if tags:
        tagged = {policy.id for policy in obj.watchlist().select((), tags)}
    with obj.store(create=False) as store:
        changes = [c for c in store.unreviewed_material_changes() if tagged is None or c["policy_id"] in tagged]
    changes.sort(key=lambda c: c["captured_at"], reverse=True)
    changes.sort(key=lambda c: SEVERITY_RANK.get(c["severity"] or "none", 0), reverse=True)
    emit(Inbox(changes), fmt)
    sys.exit(1 if exit_code and changes else 0)


@cli.command()
@click.argument("change")
@click.option("--ack", "ack", is_flag=True, help="Read and accepted as the tool judged it.")
@click.option("--false-alarm", "false_alarm", is_flag=True, help="Not a change that matters.")
@click.option("--severity", type=click.Choice(["none", "low", "medium", "high"]),
              help="The severity people give it (the tool's own verdict stays beside it).")
@click.option("--note", help="Why, in a sentence.")
@click.option("--by", "reviewer", help="Who reviewed it.")
@click.pass_obj
@handle_errors
def review(obj: Context, change: str, ack: bool, false_alarm: bool, severity: str | None, note: str | None,
           reviewer: str | None) -> None:
    """Record a review of CHANGE: ID (its last change), ID@N (the change to version N) or a change id."""
    given = [action for action, said in (("ack", ack), ("false_alarm", false_alarm), ("severity", severity)) if said]
    if len(given) > 1:  # both were taken before, the last one silently
        raise UsageError("give one of --ack, --false-alarm or --severity")
    if not given:
        raise UsageError("say what the review is: --ack, --false-alarm or --severity S")
    action = given[0]
    from policywatch.report import review_json, review_words

    with obj.store() as store, store.writer():
        row = _resolve_change(store, change)
        store.add_review(row["id"], action, severity=severity, note=note, reviewer=reviewer)
        trail = store.reviews([row["id"]])[row["id"]]
        version = store.version_by_id(row["version_id"])
    click.echo(f"{row['policy_id']}@{version['number']} (change {row['id']}, {row['captured_at'][:10]}, judged "
               f"{row['severity'] or 'none'}): {review_words(review_json(trail))}"
               + (f"; {len(trail)} reviews kept" if len(trail) > 1 else ""))


def _review_of(store, change: dict | None) -> dict | None:
    """The latest review of a stored change, as the outputs show it (None: not reviewed)."""
    from policywatch.report import review_json

    return review_json(store.reviews([change["id"]]).get(change["id"])) if change else None


def _resolve_change(store, spec: str) -> dict:
    """'acme' → its last change; 'acme@3' → the latest change to version 3; '42' → change 42."""
    if spec.isdigit():
        row = store.change_by_id(int(spec))
        if row is None:
            raise UsageError(f"no change {spec} (see policywatch history ID or inbox)")
        return row
    policy_id, _, number = spec.partition("@")
    _stored_policy(store, policy_id)
    timeline = store.timeline(policy_id)
    if number:
        if not number.isdigit():
            raise UsageError(f"'{spec}': write ID@N with a version number N")
        timeline = [e for e in timeline if e["version"] == int(number)]
    if not timeline:
        raise UsageError(f"{policy_id} has no change" + (f" to version {number}" if number else " yet"))
    return store.change_by_id(timeline[-1]["id"])


# -- renormalize ------------------------------------------------------------------------------------

@cli.command()
@click.argument("ids", nargs=-1)
@click.pass_obj
@handle_errors
def renormalize(obj: Context, ids: tuple[str, ...]) -> None:
    """Re-derive versions from stored raw snapshots after the normalizer improved (never alerted)."""
    from policywatch.rederive import renormalize as run_renormalize

    watchlist = obj.watchlist()
    with obj.store(create=False) as store:
        results = run_renormalize(store, watchlist, ids=ids)
    for r in results:
        if r.changed or not obj.quiet:
            click.echo(r.line())


# -- notify ------------------------------------------------------------------------------------------

@cli.group()
def notify() -> None:
    """Send a test message, retry pending notifications, or show what was sent."""


@notify.command(name="test")
@click.argument("targets", nargs=-1)
@click.pass_obj
@handle_errors
def notify_test(obj: Context, targets: tuple[str, ...]) -> None:
    """Send a sample message to TARGETS (default: every target); report each URL. Exit 3 on a failure."""
    from policywatch.messages import compose_test
    from policywatch.notify import deliver

    watchlist = obj.watchlist()
    names = list(targets) or list(watchlist.targets)
    unknown = [name for name in names if name not in watchlist.targets]
    if unknown:
        raise UsageError(f"no notify target '{unknown[0]}' in {watchlist.path}"
                         + (f" (targets: {', '.join(watchlist.targets)})" if watchlist.targets else ""))
    if not names:
        raise UsageError(f"{watchlist.path} defines no notify targets")
    failed = 0
    for name in names:
        delivery = deliver(watchlist, name, compose_test(name))
        if delivery.error:
            click.echo(f"{name}: FAILED {delivery.error}")
            failed += 1
        for result in delivery.results:
            click.echo(f"{name}: {'ok    ' if result.ok else 'FAILED'} {result.url}"
                       + (f" — {result.error}" if result.error else ""))
            failed += not result.ok
    sys.exit(3 if failed else 0)


@notify.command(name="flush")
@click.pass_obj
@handle_errors
def notify_flush(obj: Context) -> None:
    """Send every pending notification now, whatever its retry delay. Exit 3 if one fails for good."""
    from policywatch.outbox import flush

    watchlist = obj.watchlist()
    with obj.store() as store, store.writer():
        report = flush(store, watchlist, force=True)
    emit(report, "text", quiet=obj.quiet)
    sys.exit(3 if report.failed else 0)


@notify.command(name="log")
@click.argument("ids", nargs=-1)
@click.option("--limit", type=click.IntRange(1, 100_000), default=30, show_default=True)
@format_option("notify-log")
@click.pass_obj
@handle_errors
def notify_log(obj: Context, ids: tuple[str, ...], limit: int, fmt: str) -> None:
    """What was sent to whom and when, newest first (URLs redacted)."""
    from policywatch.outbox import log
    from policywatch.report import NotifyLog, review_json

    with obj.store(create=False) as store:
        for policy_id in ids:
            _stored_policy(store, policy_id)  # an unknown id is an error, not "no notifications yet"
        rows = log(store, limit, ids)
        reviews = store.reviews([row["change_id"] for row in rows if row["change_id"]])
    for row in rows:  # what people decided about the change a message announced, beside it
        row["review"] = review_json(reviews.get(row["change_id"])) if row["change_id"] else None
    emit(NotifyLog(rows), fmt)


@cli.command()
@handle_errors
def demo() -> None:
    """An offline tour: two versions of a sample policy, checked, judged and explained."""
    from policywatch.demo import run_demo

    sys.exit(run_demo(click.echo, color=sys.stdout.isatty()))


GLOBAL_FLAGS = {"-q", "--quiet", "-v", "--verbose"}
GLOBAL_VALUES = {"--db", "--watchlist"}


def hoist_global_options(args: list[str]) -> list[str]:
    """``check -q`` and ``diff acme --db X`` as well as ``-q check``: move the global options that come
    after the command to before it, where click reads them (no command has options of those names)."""
    names, first, k = set(cli.commands), None, 0
    while k < len(args):  # the command: the first word that is not an option or an option's value
        if args[k] in GLOBAL_VALUES:
            k += 2
            continue
        if args[k] in names:
            first = k
            break
        k += 1
    if first is None:
        return args
    head, rest, moved = args[:first], [], []
    tail = iter(args[first:])
    for arg in tail:
        if arg == "--":
            rest.append(arg)
            rest.extend(tail)
            break
        if arg in GLOBAL_FLAGS:
            moved.append(arg)
        elif arg in GLOBAL_VALUES:
            moved += [arg, next(tail, "")]
        elif arg.split("=", 1)[0] in GLOBAL_VALUES:
            moved.append(arg)
        else:
            rest.append(arg)
    return head + moved + rest


def _terminated(signum, frame) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    # SIGTERM (a cron timeout, systemd, kill) unwinds like Ctrl-C: transactions roll back, the run
    # is recorded as interrupted (143), and the lock is released.
    signal.signal(signal.SIGTERM, _terminated)
    # Under cron a broken pipe or a closed stdout must not print a traceback.
    try:
        cli(args=hoist_global_options(sys.argv[1:]), prog_name="policywatch")
    except BrokenPipeError:
        os._exit(0)
    except SystemExit as exc:
        if exc.code in (130, 128 + signal.SIGTERM):
            # Interrupted: everything is written and the lock released; fetches still in flight in
            # worker threads would hold the exit until their timeout. Leave without them.
            if exc.code != 130:  # Ctrl-C has said so already
                click.echo("policywatch: terminated; everything stored so far is kept", err=True)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.code)
        raise


if __name__ == "__main__":
    main()

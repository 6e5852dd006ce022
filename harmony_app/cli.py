"""Command line: ``harmony-matrix run|check-config|demo|…``.

Configuration problems print one line naming the file, the key and the problem, and exit with code 2.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import traceback
from pathlib import Path

from typing import TYPE_CHECKING

import click

from harmony_matrix import __version__
from harmony_matrix.config import Config, ConfigError, load_config

if TYPE_CHECKING:
    from harmony_matrix.assemblies.federation import Federation
    from harmony_matrix.consensus.decisions import ChainEntry

EXIT_CONFIG = 2


def setup_logging(level: str) -> None:
    """Log at ``level``, with the libraries' chatty or sensitive loggers held back (``harmony_app.logs``:
    a malformed event is one DEBUG line, never its content)."""
    from harmony_app.logs import install_log_filters

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_filters()
    logging.getLogger().setLevel(getattr(logging, level))
    # nio logs every retry at WARNING and every request at DEBUG; keep our own lines readable.
    logging.getLogger("nio").setLevel(max(logging.WARNING, getattr(logging, level)))
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # The ORM and database drivers log SQL *parameters* at DEBUG, which include user IDs next to
    # membership and declaration rows: sensitive data never goes to the log, even at DEBUG. nio's crypto
    # store (peewee) would log the parameters of its SQL too: pickled keys and sessions.
    for name in ("tortoise", "aiosqlite", "asyncpg", "peewee"):
        logging.getLogger(name).setLevel(max(logging.INFO, getattr(logging, level)))


def load_or_exit(path: str) -> Config:
    """The configuration at ``path``, or exit 2 with its one-line error."""
    try:
        return load_config(path)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harmony-matrix")
def main() -> None:
    """harmony-matrix: consensus democracy in Matrix."""


@main.command()
@click.option("-c", "--config", "config_path", default="config.yaml", show_default=True,
              help="The YAML configuration file.")
@click.option("--debug", is_flag=True, help="Show the traceback of a start-up error, not just its one line.")
def run(config_path: str, debug: bool) -> None:
    """Run the bot until SIGINT or SIGTERM.

    If it cannot start (the database or the homeserver unreachable, a login refused) it says why in
    one line naming the setting to look at, and exits with code 2."""
    from harmony_app.app import App
    from harmony_app.startup import describe_startup_error, probe_database, probe_homeserver

    config = load_or_exit(config_path)
    setup_logging(config.logging.level)

    async def start_and_run() -> None:
        # In the order they are needed, each failure named on its own: the database, the homeserver, the login.
        await probe_database(config.database_url())
        await probe_homeserver(config.homeserver.url, verify_tls=config.homeserver.verify_tls)
        await App(config).run_forever()

    try:
        asyncio.run(start_and_run())
    except Exception as exc:
        line = describe_startup_error(exc, config=config, config_path=config_path)
        if line is None:
            raise  # a bug: its traceback is what we need
        if debug:
            traceback.print_exception(exc)
        click.echo(f"error: {line}", err=True)
        sys.exit(EXIT_CONFIG)


@main.command("exempt-rate-limits")
@click.option("-c", "--config", "config_path", default="config.yaml", show_default=True,
              help="The YAML configuration file (the bot's user ID and homeserver come from it).")
@click.option("--admin-token", envvar="HARMONY_ADMIN_TOKEN", required=True,
              help="An access token of a homeserver admin (or set HARMONY_ADMIN_TOKEN).")
def exempt_rate_limits(config_path: str, admin_token: str) -> None:
    """Ask Synapse to exempt the bot from its rate limits (POST /_synapse/admin/v1/users/<bot>/override_ratelimit)."""
    import aiohttp

    from harmony_app.synapse.errors import SynapseError
    from harmony_app.synapse.server import exempt_from_rate_limits

    config = load_or_exit(config_path)

    async def exempt() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            await exempt_from_rate_limits(http, config.homeserver.url, config.bot.user_id, admin_token=admin_token)

    try:
        asyncio.run(exempt())
    except (SynapseError, aiohttp.ClientError, OSError) as exc:
        click.echo(f"error: {config.homeserver.url} did not exempt {config.bot.user_id}: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    click.echo(f"{config.bot.user_id} is exempt from rate limits on {config.homeserver.url}")


@main.command("appservice-registration")
@click.option("-c", "--config", "config_path", default="config.yaml", show_default=True,
              help="The YAML configuration file (the bot's user ID and the appservice section come from it).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Where to write the file (default: appservice.registration of the config).")
def appservice_registration(config_path: str, output: str | None) -> None:
    """Write the appservice registration file for Synapse (tokens made once, then kept)."""
    import yaml

    from harmony_app.appservice import SYNAPSE_EXPERIMENTAL_FEATURES, write_registration

    config = load_or_exit(config_path)
    try:
        path, content = write_registration(config, Path(output).resolve() if output else None)
    except (OSError, ValueError) as exc:
        click.echo(f"error: cannot write the registration file: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    click.echo(f"wrote {path} (appservice {content['id']!r}, pushing to {content['url']}, as {config.bot.user_id})")
    click.echo("In Synapse's homeserver.yaml (then restart Synapse):\n"
               f"app_service_config_files:\n  - {path}\n"
               + yaml.safe_dump({"experimental_features": SYNAPSE_EXPERIMENTAL_FEATURES}, sort_keys=False).rstrip()
               + "\nand in this bot's config: mode: appservice")


@main.command("check-config")
@click.argument("config_path", type=click.Path(dir_okay=False))
def check_config(config_path: str) -> None:
    """Validate a configuration file and exit (0 = fine, 2 = a problem, printed on one line)."""
    load_or_exit(config_path)
    click.echo(f"{config_path}: OK")


@main.command()
@click.option("--data-dir", default="demo-data", show_default=True, type=click.Path(file_okay=False),
              help="Where the demo keeps its Synapse, database and logins (reused on the next run).")
@click.option("--port", default=8008, show_default=True, help="Preferred client port of the local Synapse (0: any free port).")
def demo(data_dir: str, port: int) -> None:
    """Start a local Synapse, the bot and a sample federation of assemblies, in the foreground."""
    from harmony_app.demo import run_demo

    setup_logging("INFO")
    try:
        asyncio.run(run_demo(Path(data_dir), preferred_port=port))
    except KeyboardInterrupt:
        pass


@main.command("import")
@click.argument("federation_file", type=click.Path(dir_okay=False))
@click.option("-c", "--config", "config_path", default="config.yaml", show_default=True,
              help="The YAML configuration file.")
@click.option("--dry-run", is_flag=True, help="Show what would change, change nothing.")
def import_command(federation_file: str, config_path: str, dry_run: bool) -> None:
    """Import a federation file: create and update assemblies (idempotent; shows the plan first)."""
    from harmony_matrix.assemblies.federation_file import FederationFileError, load_federation

    try:
        text = Path(federation_file).read_text(encoding="utf-8")
    except OSError as exc:
        click.echo(f"error: {federation_file}: cannot be read ({exc.strerror or exc})", err=True)
        sys.exit(EXIT_CONFIG)
    try:
        federation = load_federation(text, source=federation_file)
    except FederationFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    config = load_or_exit(config_path)
    setup_logging("WARNING")
    try:
        code = asyncio.run(_import(config, federation, dry_run=dry_run))
    except Exception as exc:  # one line, not a traceback, for a failed server or database
        click.echo(f"error: the import failed: {exc}", err=True)
        sys.exit(1)
    sys.exit(code)


async def _import(config: Config, federation: Federation, *, dry_run: bool) -> int:
    import time

    from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no type information

    from harmony_app.app import App, import_federation, plan_import

    if dry_run:
        plan = await plan_import(config, federation)
        for line in plan.describe():
            click.echo(line)
        if not plan.is_empty:
            click.echo("(dry run: nothing was changed)")
        return 0
    app = App(config)
    await app.connect()
    try:
        started = time.perf_counter()
        plan = await plan_import(config, federation, app=app)
        for line in plan.describe():
            click.echo(line)
        if plan.is_empty:
            return 0
        steps = len(plan.operations) + len(plan.affected_slugs)
        with tqdm(total=steps, unit="step", disable=steps < 5, file=sys.stderr) as bar:
            def progress(what: str) -> None:
                bar.set_postfix_str(what)
                bar.update(1)

            report = await import_federation(app, federation, progress=progress)
        click.echo(f"Done in {time.perf_counter() - started:.1f} s: {report.rooms_created} rooms created, "
                   f"{report.state_writes} state events sent.")
        for refusal in report.refusals:
            click.echo(f"Not in the server ACL: {refusal}")
        return 0
    finally:
        await app.stop()


@main.group()
def members() -> None:
    """The party membership registry."""


@members.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False))
@click.option("-c", "--config", "config_path", default="config.yaml", show_default=True,
              help="The YAML configuration file.")
def members_import(csv_file: str, config_path: str) -> None:
    """Add every matrix_id of a CSV export to the membership registry (other columns are ignored)."""
    from harmony_matrix.membership import MembershipFileError, parse_members_csv

    try:
        parsed = parse_members_csv(Path(csv_file).read_text(encoding="utf-8-sig"), source=csv_file)
    except (OSError, MembershipFileError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    for problem in parsed.errors:
        click.echo(f"skipped: {problem.describe(csv_file)}", err=True)
    config = load_or_exit(config_path)
    setup_logging("WARNING")

    async def add_all() -> int:
        from datetime import UTC, datetime

        from storage.database import open_database

        db = await open_database(config.database_url())
        try:
            return await db.members.add_many(set(parsed.members), by=f"members import {Path(csv_file).name}",
                                             at=datetime.now(UTC))
        finally:
            await db.close()

    added = asyncio.run(add_all())
    # Counts only: the IDs themselves are special-category data and stay out of terminals and logs.
    click.echo(f"{added} member(s) added, {len(parsed.members) - added} already registered, "
               f"{len(parsed.errors)} row(s) skipped.")


@main.command("export-decisions")
@click.option("-c", "--config", "config_path", default="config.yaml", show_default=True,
              help="The YAML configuration file.")
@click.option("-o", "--output", default="-", show_default=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Where to write the JSON (- for standard output).")
@click.option("--verify", is_flag=True, help="Check the hash chain and who recorded each decision; exit 1 naming "
                                           "every tampered entry and every one recorded without the authority.")
def export_decisions(config_path: str, output: str, verify: bool) -> None:
    """Write the consensus record (the hash-chained decisions) as JSON, and optionally verify it."""
    import json

    from harmony_matrix.consensus.authority import AuthorityProblem, verify_authority
    from harmony_matrix.consensus.decisions import GENESIS_HASH, entry_to_json, verify_chain
    from storage.database import open_database

    config = load_or_exit(config_path)

    async def read() -> tuple[list[ChainEntry], list[AuthorityProblem]]:
        db = await open_database(config.database_url())
        try:
            chain = await db.consensus.decisions.chain()
            authority = verify_authority([e.decision for e in chain], federation=await db.assemblies.federation(),
                                         tenures=await db.consensus.roles.tenures()) if verify else []
            return chain, authority
        finally:
            await db.close()

    entries, authority = asyncio.run(read())
    document = {"format": "harmony-matrix decisions 1", "hash": "sha256 over canonical JSON of {prev, decision}",
                "head": entries[-1].hash if entries else GENESIS_HASH,
                "entries": [entry_to_json(entry) for entry in entries]}
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output == "-":
        click.echo(text, nl=False)
    else:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(entries)} decisions to {output}", err=True)
    if verify:
        problems = verify_chain(entries)
        for problem in problems:
            click.echo(f"TAMPERED: {problem}", err=True)
        for issue in authority:
            click.echo(f"{'AUTHORITY' if issue.certain else 'UNCHECKED'}: {issue}", err=True)
        if problems or any(issue.certain for issue in authority):
            sys.exit(1)
        click.echo(f"verified: {len(entries)} entries, chain intact, recorded with authority"
                   + (f" ({sum(1 for i in authority if not i.certain)} could not be checked)" if authority else ""),
                   err=True)


@main.command("verify-draw")
@click.argument("record_file", type=click.Path(dir_okay=False))
@click.option("--member", nargs=2, metavar="USER_ID SALT", default=None,
              help="Also check your own entry, with the salt the bot sent you privately.")
def verify_draw(record_file: str, member: tuple[str, str] | None) -> None:
    """Re-derive a draw from its published record (the checks of verify_draw.py); exit 1 on a mismatch."""
    import json

    from harmony_matrix.sortition.report import verification_report

    try:
        record = json.loads(Path(record_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        click.echo(f"error: cannot read {record_file}: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    lines, failures = verification_report(record, member)
    click.echo("\n".join(lines))
    sys.exit(1 if failures else 0)

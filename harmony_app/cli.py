"""Command line: ``harmony-matrix run|check-config|demo|…``.

Configuration problems print one line naming the file, the key and the problem, and exit with code 2.
"""

from __future__ import annotations

import asyncio
import logging
import sys
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
    """Log at ``level``, with the libraries' chatty or sensitive loggers held back."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(getattr(logging, level))
    # nio logs every retry at WARNING and every request at DEBUG; keep our own lines readable.
    logging.getLogger("nio").setLevel(max(logging.WARNING, getattr(logging, level)))
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # The ORM and database drivers log SQL *parameters* at DEBUG, which include user IDs next to
    # membership and declaration rows: sensitive data never goes to the log, even at DEBUG.
    for name in ("tortoise", "aiosqlite", "asyncpg"):
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
def run(config_path: str) -> None:
    """Run the bot until SIGINT or SIGTERM."""
    from harmony_app.app import App
    from harmony_app.connection import StartupError

    config = load_or_exit(config_path)
    setup_logging(config.logging.level)
    try:
        asyncio.run(App(config).run_forever())
    except StartupError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


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
@click.option("--verify", is_flag=True, help="Check the hash chain; exit 1 naming every tampered entry.")
def export_decisions(config_path: str, output: str, verify: bool) -> None:
    """Write the consensus record (the hash-chained decisions) as JSON, and optionally verify it."""
    import json

    from harmony_matrix.consensus.decisions import GENESIS_HASH, entry_to_json, verify_chain
    from storage.database import open_database

    config = load_or_exit(config_path)

    async def read() -> list[ChainEntry]:
        db = await open_database(config.database_url())
        try:
            return await db.consensus.decisions.chain()
        finally:
            await db.close()

    entries = asyncio.run(read())
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
        if problems:
            sys.exit(1)
        click.echo(f"verified: {len(entries)} entries, chain intact", err=True)

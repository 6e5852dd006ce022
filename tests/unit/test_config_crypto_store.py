"""Where the bot keeps its end-to-end encryption store: next to the database unless configured."""

from __future__ import annotations

from pathlib import Path

from harmony_matrix.config import parse_config

BASE = {
    "homeserver": {"url": "https://matrix.party.example"},
    "bot": {"user_id": "@harmony:party.example", "access_token": "syt_real_token"},
}


def config(tmp_path: Path, *, bot: dict | None = None, database: str | None = None):
    data = {**BASE, "bot": {**BASE["bot"], **(bot or {})}, "base_dir": str(tmp_path)}
    if database:
        data["database"] = {"url": database}
    return parse_config(data, source="config.yaml")


def test_the_default_store_sits_next_to_the_sqlite_database(tmp_path: Path) -> None:
    assert config(tmp_path).crypto_store_path() == (tmp_path / "harmony-crypto").resolve()
    assert config(tmp_path, database="sqlite://data/bot.sqlite3").crypto_store_path() == \
        (tmp_path / "data" / "bot-crypto").resolve()


def test_with_postgres_the_default_store_sits_next_to_the_config(tmp_path: Path) -> None:
    assert config(tmp_path, database="postgres://u:p@db/harmony").crypto_store_path() == \
        (tmp_path / "harmony-crypto").resolve()


def test_a_configured_store_is_relative_to_the_config_file(tmp_path: Path) -> None:
    assert config(tmp_path, bot={"crypto_store": "keys"}).crypto_store_path() == (tmp_path / "keys").resolve()
    assert config(tmp_path, bot={"crypto_store": "/srv/keys"}).crypto_store_path() == Path("/srv/keys")


def test_direct_chats_the_bot_opens_are_encrypted_by_default(tmp_path: Path) -> None:
    assert config(tmp_path).bot.encrypt_direct_chats is True

"""The registration file: written from the config, its tokens made once and kept, private to its owner,
and read back by the bot at start (a missing or tokenless file is a one-line start-up error)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from harmony_app.appservice import write_registration
from harmony_app.cli import main
from harmony_app.connection import StartupError, appservice_tokens
from harmony_matrix.config import Config, ConfigError, load_config


def _config(tmp_path: Path, **appservice: object) -> Config:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"homeserver": {"url": "https://matrix.north.example"},
                                    "bot": {"user_id": "@harmony:north.example"}, "mode": "appservice",
                                    "appservice": {"port": 9111, **appservice}}))
    return load_config(path)


def test_the_cli_writes_the_file_and_keeps_its_tokens(tmp_path: Path) -> None:
    _config(tmp_path, url="http://harmony.internal:9111")
    runner = CliRunner()

    first = runner.invoke(main, ["appservice-registration", "-c", str(tmp_path / "config.yaml")])
    written = yaml.safe_load((tmp_path / "appservice-registration.yaml").read_text())
    again = runner.invoke(main, ["appservice-registration", "-c", str(tmp_path / "config.yaml")])
    rewritten = yaml.safe_load((tmp_path / "appservice-registration.yaml").read_text())

    assert first.exit_code == 0 and again.exit_code == 0, first.output + again.output
    assert "app_service_config_files" in first.output and "msc2409_to_device_messages_enabled: true" in first.output
    assert written["url"] == "http://harmony.internal:9111" and written["sender_localpart"] == "harmony"
    assert written["namespaces"]["users"] == [{"exclusive": True, "regex": r"^@harmony:north\.example$"}]
    assert len(written["as_token"]) >= 40 and len(written["hs_token"]) >= 40
    assert written["as_token"] != written["hs_token"]
    assert (rewritten["as_token"], rewritten["hs_token"]) == (written["as_token"], written["hs_token"])
    mode = stat.S_IMODE((tmp_path / "appservice-registration.yaml").stat().st_mode)
    assert mode == 0o600


def test_the_bot_reads_its_tokens_from_the_file(tmp_path: Path) -> None:
    config = _config(tmp_path, registration="secrets/registration.yaml")
    path, content = write_registration(config)

    assert path == tmp_path / "secrets" / "registration.yaml"
    assert appservice_tokens(config) == (content["as_token"], content["hs_token"])
    assert content["url"] == "http://127.0.0.1:9111"  # bind and port when no url is given


def test_a_missing_or_tokenless_file_is_a_one_line_startup_error(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with pytest.raises(StartupError, match=r"appservice.registration: .* does not exist; write it with "
                                           r"`harmony-matrix appservice-registration`"):
        appservice_tokens(config)
    (tmp_path / "appservice-registration.yaml").write_text("id: harmony\nas_token: ''\n")
    with pytest.raises(StartupError, match="has no as_token and hs_token"):
        appservice_tokens(config)


def test_bot_mode_still_needs_credentials_and_appservice_mode_does_not(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"homeserver": {"url": "https://matrix.north.example"},
                                    "bot": {"user_id": "@harmony:north.example"}}))
    with pytest.raises(ConfigError, match="bot: needs access_token or password"):
        load_config(path)
    assert _config(tmp_path).mode == "appservice"

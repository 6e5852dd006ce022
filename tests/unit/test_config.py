"""Config validation: one-line errors naming file, key and problem; exit code 2; sample kept in step."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harmony_matrix.config import SAMPLE_VALUES, ConfigError, config_keys, load_config

REPO = Path(__file__).resolve().parents[2]
GOOD = {
    "homeserver": {"url": "https://matrix.party.example"},
    "bot": {"user_id": "@harmony:party.example", "access_token": "syt_real_token"},
    "admins": ["@alice:party.example"],
}


def write(tmp_path: Path, data: object, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def with_change(path: str, value: object) -> dict:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return data


def test_a_good_config_loads_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.prefixes == ("!harmony", "!h")
    assert config.display_prefix == "!h"
    assert config.database_url() == f"sqlite://{tmp_path / 'harmony.db'}"
    assert config.timezone == "UTC"


def test_the_display_prefix_is_the_first_alias_else_the_prefix(tmp_path: Path) -> None:
    aliased = load_config(write(tmp_path, with_change("commands", {"prefix": "!vote", "aliases": ["!v", "!x"]})))
    assert aliased.display_prefix == "!v"
    bare = load_config(write(tmp_path, with_change("commands", {"prefix": "!vote", "aliases": []})))
    assert bare.display_prefix == "!vote"


def test_user_ids_are_checked_by_the_one_rule(tmp_path: Path) -> None:
    for bad in ("@:server", "@name:", "@na me:server", "@name:server\tx", "name:server"):
        with pytest.raises(ConfigError, match="admins: must be a Matrix user ID"):
            load_config(write(tmp_path, with_change("admins", [bad])))
    config = load_config(write(tmp_path, with_change("admins", ["@a.b_c:matrix.example:8448"])))
    assert config.admins == ["@a.b_c:matrix.example:8448"]


BAD_CONFIGS = [
    ("missing key", with_change("bot.user_id", KeyError), "bot.user_id: is required"),
    ("wrong type", with_change("sync.timeout_ms", "soon"), "sync.timeout_ms: "),
    ("unknown key", with_change("homeserver.port", 8008), "homeserver.port: is not a known key"),
    ("sample value", with_change("bot.access_token", "CHANGE_ME"),
     'bot.access_token: still has the sample value "CHANGE_ME"'),
    ("bad URL", with_change("homeserver.url", "matrix.org"),
     'homeserver.url: must start with http:// or https:// (got "matrix.org")'),
    ("bad database URL", with_change("database.url", "mysql://db/harmony"),
     "database.url: must start with one of sqlite://, postgres://, postgresql://"),
    ("bad user ID", with_change("admins", ["alice"]), 'admins: must be a Matrix user ID like "@name:server"'),
    ("no credentials", with_change("bot.access_token", KeyError), "bot: needs access_token or password"),
    ("bad time zone", with_change("timezone", "Mars/Olympus"), "timezone: is not a known time zone"),
    ("bad log level", with_change("logging.level", "LOUD"), "logging.level: "),
    ("bad duration", with_change("consensus.elected_term", "a year"),
     'consensus.elected_term: must be a duration like 24h, 90m or 45s (got "a year")'),
    ("zero duration", with_change("consensus.elected_term", "0s"),
     "consensus.elected_term: must be a positive duration (got '0s')"),
]


@pytest.mark.parametrize(("case", "data", "expected"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_configs_name_the_key_and_the_problem(tmp_path: Path, case: str, data: dict, expected: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "homeserver:\n  url: [unclosed\nbot: {}\n")
    with pytest.raises(ConfigError, match=r"line \d+: invalid YAML"):
        load_config(path)


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")
    directory = tmp_path / "adir.yaml"
    directory.mkdir()
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(directory)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_config(write(tmp_path, "- just\n- a list\n"))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harmony_app", *args], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)


def test_check_config_cli_exit_codes(tmp_path: Path) -> None:
    good = run_cli("check-config", str(write(tmp_path, GOOD)))
    assert good.returncode == 0, good.stderr
    bad = run_cli("check-config", str(write(tmp_path, with_change("homeserver.url", "matrix.org"), "bad.yaml")))
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "homeserver.url" in lines[0]
    unreadable = run_cli("check-config", str(tmp_path / "missing.yaml"))
    assert unreadable.returncode == 2 and "file not found" in unreadable.stderr


def test_run_refuses_the_sample_config() -> None:
    result = run_cli("run", "-c", str(REPO / "config.sample.yaml"))
    assert result.returncode == 2
    assert "still has the sample value" in result.stderr


def _yaml_keys(node: object, prefix: str = "") -> list[str]:
    keys: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            keys.append(prefix + key)
            keys.extend(_yaml_keys(value, prefix + key + "."))
    return keys


def test_sample_config_is_in_step_with_the_model() -> None:
    sample = yaml.safe_load((REPO / "config.sample.yaml").read_text())
    assert sorted(_yaml_keys(sample)) == sorted(config_keys())


def test_every_sample_key_has_a_comment() -> None:
    lines = (REPO / "config.sample.yaml").read_text().splitlines()
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.startswith("- "):
            continue
        assert index > 0 and lines[index - 1].strip().startswith("#"), f"no comment above: {line!r}"


def test_sample_values_are_the_ones_shipped() -> None:
    sample = yaml.safe_load((REPO / "config.sample.yaml").read_text())
    assert sample["homeserver"]["url"] == SAMPLE_VALUES["homeserver.url"]
    assert sample["bot"]["user_id"] == SAMPLE_VALUES["bot.user_id"]
    assert sample["admins"] == SAMPLE_VALUES["admins"]


def test_debug_logging_never_logs_sql_parameters() -> None:
    import logging

    from harmony_app.cli import setup_logging

    setup_logging("DEBUG")
    try:
        assert logging.getLogger("tortoise.db_client").getEffectiveLevel() >= logging.INFO
        assert logging.getLogger("harmony_matrix").getEffectiveLevel() == logging.DEBUG
    finally:
        logging.getLogger().setLevel(logging.WARNING)

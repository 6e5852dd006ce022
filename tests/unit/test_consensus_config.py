"""The consensus section's rules in config (issue 14): check thresholds as shares, per-assembly rules, and
what the feature is handed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from handlers.consensus.common import consensus_rules
from harmony_matrix.config import ConfigError, load_config

GOOD = {"homeserver": {"url": "https://matrix.party.example"},
        "bot": {"user_id": "@harmony:party.example", "access_token": "syt_real_token"}}


def load(tmp_path: Path, consensus: dict[str, object]):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "consensus": consensus}))
    return load_config(path)


def test_thresholds_quorum_and_copies_per_assembly(tmp_path: Path) -> None:
    config = load(tmp_path, {"sense": {"broad_approval": "80%", "min_members": 2}, "quorum": 4,
                             "assembly_rules": {"party": {"broad_disagreement": 0.4, "quorum": 20}},
                             "minutes_copies": {"cos": ["owg", "secretarial-committee"]},
                             "action_reminder_before": "2d"})
    rules = consensus_rules(config.consensus)
    assert (rules["thresholds"].broad_approval, rules["thresholds"].min_members) == (0.8, 2)
    party = rules["per_assembly"]["party"]
    assert (party.thresholds.broad_approval, party.thresholds.broad_disagreement, party.quorum) == (0.8, 0.4, 20)
    assert rules["quorum"] == 4 and rules["minutes_copies"] == {"cos": ("owg", "secretarial-committee")}
    assert rules["action_reminder_before"] == timedelta(days=2)


@pytest.mark.parametrize(("consensus", "message"), [
    ({"sense": {"broad_approval": "50%"}}, "consensus: sense: broad_approval and broad_disagreement must add up"),
    ({"assembly_rules": {"ops": {"broad_disagreement": "30%", "broad_approval": "60%"}}},
     "assembly_rules.ops: broad_approval and broad_disagreement"),
    ({"sense": {"broad_approval": "lots"}}, 'consensus.sense.broad_approval: must be a share like 75% or 0.75'),
    ({"assembly_rules": {"ops": {"quorum": -1}}}, "consensus.assembly_rules.ops.quorum"),
])
def test_bad_rules_are_refused_naming_the_key(tmp_path: Path, consensus: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, consensus)

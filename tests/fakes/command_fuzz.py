"""Generated commands for fuzz runs (the fast harness and real Synapse): built from the declarations
themselves (real names, parameters, options and flags), filled from pools of good, wrong, huge and
hostile values. ``CommandFuzzer(slug, people).command(spec)`` gives one command line (without prefix)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from harmony_matrix.commands import CommandSpec

#: The generic apology: a fuzz run must never see it (it is for real bugs only).
APOLOGY = "something went wrong on my side"


class CommandFuzzer:
    """Command lines for the commands of one bot, about the assembly ``slug`` and ``people``."""

    def __init__(self, rng: random.Random, *, slug: str, people: Sequence[str]) -> None:
        self.rng = rng
        users = [*people, "@stranger:test"]
        self.words = [slug, "wg", "nope", slug.upper(), "deadlock", "@", "#1", "1", "#99", "0", "-3", f"P-{slug}-1",
                      f"P-{slug}-99", f"M-{slug}-1", f"D-{slug}-1", f"S-{slug}-1", f"R-{slug}-1", "secretary",
                      "deputies", "reached", "rejected", "ballot", "members", "participants", "tomorrow", "19:00",
                      "in", "2h", "yesterday", "A=5", "B=3", "|", "Pizza", "gender", *users, "@bad", "ünïcødé",
                      "🗳️", '"quoted words"', "x=1", "'"]
        self.texts = ["Lunch? | Pizza | Sushi", "Budget 2027 | details here", "tomorrow 19:00 Budget moot",
                      "in 2h Retro", "A=5 B=0", "poll start", "<" * 3000, "x" * 5000, "word " * 900, '"unclosed',
                      "a\nb\nc", ""]
        self.good: dict[str, list[str]] = {
            "parse_user": users,
            "parse_users": [",".join(people[:2]), people[-1], "@a:test @b:test"],
            "parse_slug": [slug, "wg", "nope"],
            "parse_poll_ref": ["#1", "#2", "1", "#99"],
            "parse_proposal_ref": [f"P-{slug}-1", f"P-{slug}-2", f"P-{slug}-99"],
            "parse_proposal_refs": [f"P-{slug}-1", f"P-{slug}-1,P-{slug}-2"],
            "parse_moot_ref": [f"M-{slug}-1", f"M-{slug}-9"],
            "parse_draw_ref": [f"S-{slug}-1", f"S-{slug}-7"],
            "read_when": ["tomorrow 19:00", "in 2h", "2026-12-01 19:00", "yesterday", "2027-06-30"],
            "parse_duration": ["90m", "2h", "13h"],
            "parse_poll_text": ["Lunch? | Pizza | Sushi", "Which day? | Mon | Tue | Wed | Thu | Fri", "Only | one"],
            "parse_propose_args": ["Budget 2027 | spend less", "Retro format"],
            "parse_when_and_topic": ["tomorrow 19:00 Budget moot", "in 2h Retro", "2026-12-01 19:00 Year end"],
            "parse_positive_int": ["1", "2", "3"],
            "parse_eligibility": ["members", "participants"],
            "parse_kind": ["working-group", "committee", "society"],
            "parse_access": ["open", "participants", "members", "invite", "self-identified"],
            "parse_topics": ["housing,budget", "budget"],
            "parse_ballot_options": ["Plan A | Plan B", "Yes | No | Later"],
            "parse_reason": ["because it costs too much", "x"],
            "parse_feature_name": ["gender", "age"],
        }

    def value(self, parser: str) -> str:
        """A good value for ``parser`` most of the time, else a wrong, huge or hostile one."""
        if parser in self.good and self.rng.random() < 0.7:
            return self.rng.choice(self.good[parser])
        if self.rng.random() < 0.15:
            return self.rng.choice(self.texts)
        return self.rng.choice(self.words)

    def command(self, spec: CommandSpec) -> str:
        """A command line for ``spec``: its words, some parameters, options and flags (right or wrong)."""
        rng = self.rng
        parts = [spec.name]
        for param in spec.params:
            if param.optional and rng.random() < 0.3:
                continue
            if param.choices and rng.random() < 0.6:
                parts.append(rng.choice(param.choices))
            else:
                parts.append(self.value(getattr(param.parser, "__name__", "")))
        if rng.random() < 0.1:
            parts.append(rng.choice(self.words))  # one too many
        for option in spec.options:
            if rng.random() < 0.4:
                value = self.value(getattr(option.parser, "__name__", ""))
                parts.append(f'{option.name}="{value}"' if " " in value else f"{option.name}={value}")
        if rng.random() < 0.05:
            parts.append("bogus=option")
        for flag in spec.flags:
            if rng.random() < 0.3:
                parts.append(flag.name)
        return " ".join(parts)

    def anything(self, specs: Sequence[CommandSpec]) -> str:
        """Mostly a declared command, sometimes free text after the prefix."""
        if self.rng.random() < 0.9:
            return self.command(self.rng.choice(list(specs)))
        return self.rng.choice(self.texts + self.words)


def declared(table: object) -> list[CommandSpec]:
    """Every command of a ``CommandTable``, once each, by name."""
    specs = getattr(table, "_specs")
    values = specs.values() if isinstance(specs, dict) else specs
    return sorted({spec.name: spec for spec in values}.values(), key=lambda spec: spec.name)

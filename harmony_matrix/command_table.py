"""All declared commands, found by their (multi-word) names and aliases, and what the bot says about
them: the help generated from the declarations, and the answer to a command nobody declared."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator

from harmony_matrix.commands import PLACE_WORDS, ROLE_WORDS, CommandSpec


class CommandTable:
    """All declared commands, resolvable by their (multi-word) names and aliases."""

    def __init__(self, specs: Iterable[CommandSpec] = ()) -> None:
        self._specs: list[CommandSpec] = []
        self._by_words: dict[tuple[str, ...], CommandSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: CommandSpec) -> None:
        """Declare ``spec``; a name or alias declared twice is a programming error."""
        for name in (spec.name, *spec.aliases):
            words = tuple(name.split())
            if words in self._by_words:
                raise ValueError(f'command "{name}" is declared twice')
            self._by_words[words] = spec
        self._specs.append(spec)

    def __iter__(self) -> Iterator[CommandSpec]:
        return iter(self._specs)

    def get(self, name: str) -> CommandSpec | None:
        """The command named (or aliased) exactly ``name``, in any case."""
        return self._by_words.get(tuple(name.lower().split()))

    def resolve(self, text: str) -> tuple[CommandSpec, str] | None:
        """Find the longest declared name at the start of ``text``; return it and the rest."""
        words = text.split()
        for length in range(min(len(words), 4), 0, -1):
            spec = self._by_words.get(tuple(w.lower() for w in words[:length]))
            if spec is not None:
                rest = text
                for word in words[:length]:
                    rest = rest[rest.index(word) + len(word) :]
                return spec, rest.strip()
        return None

    def group_names(self, first_word: str) -> list[str]:
        """Names of commands starting with ``first_word`` (for "did you mean" on a bare group)."""
        return sorted(s.name for s in self._specs if s.words[0] == first_word.lower())

    def suggest(self, text: str) -> list[str]:
        """Commands whose name shares the first word, or is close to it."""
        first = text.split()[0].lower() if text.split() else ""
        group = self.group_names(first)
        if group:
            return group
        names = sorted({s.name for s in self._specs} | {a for s in self._specs for a in s.aliases})
        return difflib.get_close_matches(text.lower(), names, n=3, cutoff=0.5)


def help_overview(specs: Iterable[CommandSpec], *, prefix: str) -> list[tuple[str, str]]:
    """(usage, summary) lines for the given commands, sorted by name."""
    return [(spec.usage(prefix), spec.summary) for spec in sorted(specs, key=lambda s: s.name)]


def help_detail(spec: CommandSpec, *, prefix: str) -> list[str]:
    """The lines of ``!h help <command>``."""
    lines = [spec.summary, f"Usage: {spec.usage(prefix)}"]
    for param in spec.params:
        if param.help:
            lines.append(f"  {param.usage()}: {param.help}")
    for option in spec.options:
        if option.help:
            lines.append(f"  {option.name}=: {option.help}")
    for flag in spec.flags:
        if flag.help:
            lines.append(f"  {flag.name}: {flag.help}")
    if spec.aliases:
        lines.append("Also: " + ", ".join(f"{prefix} {a}" for a in spec.aliases))
    who = ROLE_WORDS[spec.role]
    lines.append(f"Who: {who}; where: {PLACE_WORDS[spec.place]}.")
    lines.append(f"Example: {spec.example.replace('!h ', prefix + ' ', 1)}")
    return lines


def unknown_command(table: CommandTable, text: str, *, prefix: str) -> str:
    """The answer to a command nobody declared, with suggestions: the commands of the group when
    its first word names one, else the closest names."""
    words = text.split()
    group = table.group_names(words[0]) if words else []
    # "poll strat": the group exists, the subcommand does not — name both words, not just "poll".
    asked = " ".join(words[:2]) if group and len(words) > 1 else (words[0] if words else text)
    suggestions = group or table.suggest(text)
    hint = ""
    if suggestions:
        hint = " Did you mean: " + ", ".join(f"{prefix} {s}" for s in suggestions) + "?"
    return f'I don\'t know the command "{asked}".{hint} Send {prefix} help for the list.'

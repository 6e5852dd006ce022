"""The declarative federation file: parse it, with line numbers in every error, and write it back.

``harmony-matrix import FILE [--dry-run]`` reads the file with :func:`load_federation`, then plans
what changes (``import_plan.plan_changes``). The file's shape of an assembly (its keys, plain values)
is also how the registry stores one (:func:`assembly_to_mapping`, :func:`assembly_from_mapping`).

File format (see ``examples/harmony-federation.yaml``)::

    version: 1
    assemblies:
      - slug: party
        name: Harmony Party UK
        kind: party
        access: open
      - slug: media
        name: Media Working Group
        kind: working-group
        parents: [party]
      - slug: wales
        name: Wales Regional Assembly
        kind: region
        remote_parents: ["#party:national.example"]   # an umbrella on a peer instance
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

import yaml

from harmony_matrix.assemblies.assembly import Access, Assembly, AssemblyKind, Purpose, parse_enum
from harmony_matrix.assemblies.errors import AssemblyError, CycleError, InvalidAssembly
from harmony_matrix.assemblies.federation import Federation, find_cycle
from harmony_matrix.errors import UserError
from harmony_matrix.ids import UserId

SUPPORTED_VERSION = 1

# Every key an assembly entry may have. The file uses the dataclass field names, so what a
# secretary reads in an error matches what they typed.
_TEXT_KEYS = ("slug", "name", "remit", "reference", "declaration", "secretary", "timezone")
_ENUM_KEYS: dict[str, type[StrEnum]] = {"kind": AssemblyKind, "access": Access, "purpose": Purpose}
_LIST_KEYS = ("parents", "deputies", "denied_servers", "remote_parents")
_BOOL_KEYS = ("automatic_participation", "all_thing")
ENTRY_KEYS: tuple[str, ...] = (
    "slug", "name", "kind", "access", "purpose", "remit", "reference", "declaration", "parents",
    "automatic_participation", "secretary", "deputies", "timezone", "denied_servers", "all_thing",
    "remote_parents",
)
REQUIRED_KEYS: tuple[str, ...] = ("slug", "name", "kind")
TOP_KEYS: tuple[str, ...] = ("version", "assemblies")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file, at a line (1-based)."""

    line: int
    message: str


class FederationFileError(UserError):
    """The federation file is wrong. The message names the file, each line, and each problem.

    All problems found are reported together (``problems``), so a secretary can fix them in one
    go; nesting problems (cycles, unknown parents) are checked once the entries themselves are
    valid.
    """

    def __init__(self, source: str, problems: Iterable[Problem]) -> None:
        self.source = source
        self.problems = tuple(sorted(problems, key=lambda p: p.line))
        super().__init__(
            "\n".join(f"{source}, line {p.line}: {p.message}" for p in self.problems)
        )


@dataclass
class _Entry:
    """One parsed assembly entry and where each of its keys sits in the file."""

    line: int
    values: dict[str, Any]
    key_lines: dict[str, int]
    parent_lines: dict[str, int]


def load_federation(text: str, *, source: str) -> Federation:
    """Parse a federation file into a validated :class:`Federation`.

    ``source`` names the file in error messages. Raises :class:`FederationFileError` for YAML
    syntax errors, missing, unknown or duplicate keys, unknown kind/access/purpose values (the
    message lists the allowed ones), invalid fields, duplicate slugs, unknown parents and cycles.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = Problem(line, f"not valid YAML: {exc.problem}")
        raise FederationFileError(source, [problem]) from None
    except yaml.YAMLError as exc:
        raise FederationFileError(source, [Problem(1, f"not valid YAML: {exc}")]) from None

    problems: list[Problem] = []
    if root is None:
        raise FederationFileError(source, [Problem(1, "the file is empty")])
    top = _mapping(root, "the file", problems, TOP_KEYS)
    if top is None:
        raise FederationFileError(source, problems)
    if "version" in top:
        version_node = top["version"][1]
        if _scalar_text(version_node) != str(SUPPORTED_VERSION):
            problems.append(
                Problem(
                    _line(version_node),
                    f"version {_scalar_text(version_node)!r} is not supported "
                    f"(this bot reads version {SUPPORTED_VERSION})",
                )
            )
    if "assemblies" not in top:
        problems.append(Problem(_line(root), "missing key 'assemblies' (the list of assemblies)"))
        raise FederationFileError(source, problems)
    list_node = top["assemblies"][1]
    if not isinstance(list_node, yaml.SequenceNode):
        problems.append(
            Problem(_line(list_node), "'assemblies' must be a list (each entry starts with '- ')")
        )
        raise FederationFileError(source, problems)

    entries = [e for e in (_parse_entry(n, problems) for n in list_node.value) if e is not None]
    assemblies: list[tuple[_Entry, Assembly]] = []
    for entry in entries:
        assembly = _build(entry, problems)
        if assembly is not None:
            assemblies.append((entry, assembly))
    if problems:
        raise FederationFileError(source, problems)

    _check_nesting(assemblies, problems)
    if problems:
        raise FederationFileError(source, problems)
    try:
        return Federation(tuple(a for _, a in assemblies))
    except AssemblyError as exc:  # pragma: no cover - every case is caught above with a line
        raise FederationFileError(source, [Problem(_line(root), exc.message)]) from None


# --- node helpers -----------------------------------------------------------------------------
def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _scalar_text(node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else ""


def _mapping(
    node: yaml.Node, what: str, problems: list[Problem], known: tuple[str, ...]
) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
    """Keys of a mapping node → (key node, value node); reports duplicates and unknown keys."""
    if not isinstance(node, yaml.MappingNode):
        problems.append(Problem(_line(node), f"{what} must be a mapping of 'key: value' lines"))
        return None
    result: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        key = _scalar_text(key_node)
        if key in result:
            problems.append(Problem(_line(key_node), f"key {key!r} appears twice in {what}"))
            continue
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            problems.append(
                Problem(
                    _line(key_node),
                    f"unknown key {key!r} in {what}{suggestion} (known keys: {', '.join(known)})",
                )
            )
            continue
        result[key] = (key_node, value_node)
    return result


def _parse_entry(node: yaml.Node, problems: list[Problem]) -> _Entry | None:
    keys = _mapping(node, "an assembly entry", problems, ENTRY_KEYS)
    if keys is None:
        return None
    entry = _Entry(line=_line(node), values={}, key_lines={}, parent_lines={})
    ok = True
    for key in REQUIRED_KEYS:
        if key not in keys:
            label = f" of {_scalar_text(keys['slug'][1])!r}" if "slug" in keys else ""
            problems.append(Problem(entry.line, f"missing key {key!r} in the entry{label}"))
            ok = False
    for key, (key_node, value_node) in keys.items():
        entry.key_lines[key] = _line(key_node)
        parser = _PARSERS[key]
        try:
            entry.values[key] = parser(value_node, entry)
        except _Bad as bad:
            problems.append(Problem(_line(value_node), f"{key}: {bad}"))
            ok = False
    return entry if ok else None


class _Bad(Exception):
    """A value of the wrong shape; the message is completed with the key and line."""


def _text(node: yaml.Node, _entry: _Entry) -> str | None:
    if not isinstance(node, yaml.ScalarNode):
        raise _Bad("expected text, not a list or mapping")
    if node.tag == "tag:yaml.org,2002:null":
        return None
    # The raw text, not YAML's guess: a reference "2025-09" must not become a date, "no" not False.
    return str(node.value).strip()


def _enum(enum: type[StrEnum]) -> Callable[[yaml.Node, _Entry], StrEnum | None]:
    def parse(node: yaml.Node, entry: _Entry) -> StrEnum | None:
        value = _text(node, entry)
        if value is None:
            return None
        try:
            return parse_enum(enum, value)
        except ValueError as exc:
            raise _Bad(str(exc)) from None

    return parse


def _bool(node: yaml.Node, _entry: _Entry) -> bool:
    if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:bool":
        raise _Bad(f"expected true or false, not {_scalar_text(node) or 'a list or mapping'!r}")
    value = yaml.SafeLoader("").construct_object(node)
    return bool(value)


def _text_list(node: yaml.Node, entry: _Entry) -> tuple[str, ...]:
    # A single value is accepted for a one-item list: "parents: party" is what people write.
    if isinstance(node, yaml.ScalarNode):
        single = _text(node, entry)
        return () if single is None else (single,)
    if not isinstance(node, yaml.SequenceNode):
        raise _Bad("expected a list like [a, b]")
    items = []
    for item in node.value:
        value = _text(item, entry)
        if value is None:
            raise _Bad("an empty item in the list")
        items.append(value)
    return tuple(items)


def _parents(node: yaml.Node, entry: _Entry) -> tuple[str, ...]:
    values = _text_list(node, entry)
    item_nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
    for value, item in zip(values, item_nodes):
        entry.parent_lines.setdefault(value, _line(item))
    return values


_PARSERS: dict[str, Callable[[yaml.Node, _Entry], Any]] = {
    **{key: _text for key in _TEXT_KEYS},
    **{key: _enum(enum) for key, enum in _ENUM_KEYS.items()},
    **{key: _text_list for key in _LIST_KEYS},
    **{key: _bool for key in _BOOL_KEYS},
    "parents": _parents,
}
assert set(_PARSERS) == set(ENTRY_KEYS)


# Which key makes another one necessary, for pointing at the right line when it is missing.
_REQUIRED_BY = {"declaration": "access", "parents": "access"}


def _build(entry: _Entry, problems: list[Problem]) -> Assembly | None:
    values = {k: v for k, v in entry.values.items() if v is not None and v != ""}
    missing = [k for k in REQUIRED_KEYS if k not in values]
    for key in missing:
        problems.append(Problem(entry.key_lines.get(key, entry.line), f"{key}: a value is needed"))
    if missing:
        return None
    # Keys left empty ("reference:") fall back to the dataclass defaults.
    if values.get("secretary") is not None:
        values["secretary"] = UserId(values["secretary"])
    slug = values.get("slug") or ""
    try:
        return Assembly(**values)
    except InvalidAssembly as exc:
        # A missing field ("declaration") is blamed on the key that requires it ("access").
        line = entry.key_lines.get(exc.field) or entry.key_lines.get(
            _REQUIRED_BY.get(exc.field, ""), entry.line
        )
        problems.append(Problem(line, exc.message))
    except CycleError:
        problems.append(
            Problem(
                entry.parent_lines.get(slug, entry.key_lines.get("parents", entry.line)),
                f"assembly {slug!r} is nested in itself",
            )
        )
    except (TypeError, AssemblyError) as exc:  # pragma: no cover - defensive
        problems.append(Problem(entry.line, str(exc)))
    return None


def _check_nesting(assemblies: list[tuple[_Entry, Assembly]], problems: list[Problem]) -> None:
    first_line: dict[str, int] = {}
    for entry, assembly in assemblies:
        line = entry.key_lines.get("slug", entry.line)
        if assembly.slug in first_line:
            problems.append(
                Problem(
                    line,
                    f"duplicate slug {assembly.slug!r} (first used on line "
                    f"{first_line[assembly.slug]})",
                )
            )
        else:
            first_line[assembly.slug] = line
    marked = [(entry, a) for entry, a in assemblies if a.all_thing]
    for entry, assembly in marked[1:]:
        problems.append(Problem(entry.key_lines.get("all_thing", entry.line),
                                f"only one assembly can be the All Thing body; {marked[0][1].slug!r} "
                                f"already is (line {marked[0][0].key_lines.get('all_thing', marked[0][0].line)})"))
    for entry, assembly in assemblies:
        for parent in assembly.parents:
            if parent not in first_line:
                hint = difflib.get_close_matches(parent, list(first_line), n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                problems.append(
                    Problem(
                        entry.parent_lines.get(parent, entry.line),
                        f"unknown parent {parent!r} of {assembly.slug!r}{suggestion}",
                    )
                )
    if problems:
        return
    cycle = find_cycle({a.slug: a.parents for _, a in assemblies})
    if cycle is not None:
        by_slug = {a.slug: entry for entry, a in assemblies}
        entry = by_slug[cycle[0]]
        problems.append(
            Problem(
                entry.parent_lines.get(cycle[1], entry.line),
                f"nesting forms a cycle: {' → '.join(cycle)} (each is nested in the next)",
            )
        )


def assembly_to_mapping(assembly: Assembly, *, keep_defaults: bool = True) -> dict[str, Any]:
    """One assembly as plain data under the file's keys: enums as their values, tuples as lists.

    With ``keep_defaults=False`` optional keys still at their default are left out, so the output
    reads like a hand-written entry.
    """
    defaults = {f.name: f.default for f in fields(Assembly)}
    entry: dict[str, Any] = {}
    for name in ENTRY_KEYS:
        value = getattr(assembly, name)
        if not keep_defaults and name not in REQUIRED_KEYS and value == defaults[name]:
            continue
        if isinstance(value, StrEnum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        entry[name] = value
    return entry


def assembly_from_mapping(data: Mapping[str, Any]) -> Assembly:
    """An assembly from :func:`assembly_to_mapping`'s data (keys it does not know are ignored)."""
    return Assembly(**{key: value for key, value in data.items() if key in ENTRY_KEYS})


def federation_to_mapping(federation: Federation) -> Mapping[str, Any]:
    """The federation as plain data in the file's format (for ``export`` and round-trip tests)."""
    return {
        "version": SUPPORTED_VERSION,
        "assemblies": [assembly_to_mapping(a, keep_defaults=False) for a in federation],
    }

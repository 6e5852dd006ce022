"""The ``assemblies`` answer: the nesting tree as real nested lists, each assembly with its kind, its
address and how to get in.

HTML: one ``<ul>`` per level (clients indent them and wrap lines correctly), commands in ``<code>``,
addresses as matrix.to links (Element shows them as room pills). Plain text: the same tree indented
by two spaces a level, readable on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from handlers.assemblies.messages import with_code
from handlers.matrix.render import escape
from harmony_matrix.assemblies.assembly import Access, Assembly
from harmony_matrix.assemblies.federation import Federation

#: How to get into an assembly of each access policy, formatted with ``prefix``, ``slug`` and
#: ``parents``; commands between backticks (the web pages use this table too).
HOW_TO_JOIN: Mapping[Access, str] = {
    Access.OPEN: "open to everyone: `{prefix} join {slug}`",
    Access.PARTICIPANTS: "for participants of {parents}: `{prefix} join {slug}`",
    Access.SELF_IDENTIFIED: "for people who privately confirm its statement: `{prefix} join {slug}`",
    Access.MEMBERS: "for registered party members: `{prefix} join {slug}`",
    Access.INVITE: "by invitation of its secretary",
    Access.DRAWN: "for the members drawn by lot to sit in it",
}


@dataclass(frozen=True)
class ListingContext:
    """What the answer depends on besides the federation."""

    prefix: str
    #: The bot's user ID, for "send it to me in a direct message".
    bot: str
    #: The command was sent in the person's direct chat with the bot.
    in_direct_chat: bool
    #: slug → the canonical alias of its space, where it has one.
    space_aliases: Mapping[str, str]
    #: One room's alias to show the pattern of room addresses (``#party-discussion:…``), if any.
    example_room_alias: str | None = None
    #: slug → (its umbrellas on peer instances, its nested assemblies on peer instances), as labels.
    remote: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)


def kind_label(assembly: Assembly) -> str:
    """The kind as words: ``working group``."""
    return assembly.kind.value.replace("-", " ")


def how_to_join(assembly: Assembly, federation: Federation, ctx: ListingContext) -> str:
    """One sentence, commands between backticks (``messages.with_code`` renders them)."""
    parents = " or ".join(federation[p].name for p in assembly.parents) or "its umbrella"
    how = HOW_TO_JOIN.get(assembly.access, "ask its secretary").format(
        prefix=ctx.prefix, slug=assembly.slug, parents=parents)
    if assembly.access is Access.SELF_IDENTIFIED:
        # Asking in a shared room would show everyone who asked.
        how += (", sent here (this chat stays between us)" if ctx.in_direct_chat
                else f", sent to me ({ctx.bot}) in a direct message, not in a shared room")
    if assembly.automatic_participation:
        how += "; everyone who takes part in the party is invited"
    return how[0].upper() + how[1:]


def _link(alias: str) -> str:
    return f'<a href="https://matrix.to/#/{quote(alias, safe="@:")}">{escape(alias)}</a>'


def render_assemblies(federation: Federation, ctx: ListingContext) -> tuple[str, str]:
    """The whole answer as (plain, HTML)."""
    intro = "Assemblies, how they nest, and how to join each:"
    plain = [intro]
    html = ["<p><b>Assemblies</b>, how they nest, and how to join each:</p>"]
    depth = -1
    for line in federation.tree():
        a = line.assembly
        # Open one list per level down; close the item (and lists) we leave.
        if line.depth > depth:
            html.append("<ul>")
        else:
            html.append("</li></ul>" * (depth - line.depth) + "</li>")
        depth = line.depth
        indent = "  " * line.depth
        alias = ctx.space_aliases.get(a.slug)
        title = f"{a.name} — {kind_label(a)}"
        if line.repeated:
            plain.append(f"{indent}• {title} (listed above)")
            html.append(f"<li><b>{escape(a.name)}</b> — {escape(kind_label(a))} <i>(listed above)</i>")
            continue
        how_plain, how_html = with_code(how_to_join(a, federation, ctx))
        plain.append(f"{indent}• {title}" + (f" · {alias}" if alias else ""))
        plain.append(f"{indent}  {how_plain}")
        html.append(f"<li><b>{escape(a.name)}</b> — {escape(kind_label(a))}"
                    + (f" · {_link(alias)}" if alias else "") + f"<br>{how_html}")
        remote_parents, remote_children = ctx.remote.get(a.slug, ((), ()))
        for label in remote_parents:
            plain.append(f"{indent}  Nested in {label}, on another instance")
            html.append(f"<br>Nested in {escape(label)}, on another instance")
        for label in remote_children:
            plain.append(f"{indent}  • {label} — nested here from another instance")
            html.append(f"<ul><li>{escape(label)} — <i>nested here from another instance</i></li></ul>")
    html.append("</li></ul>" * (depth + 1))
    if ctx.example_room_alias:
        note = (f"Rooms have addresses too, such as {ctx.example_room_alias} (likewise -announcements and "
                "-votes); they open in any Matrix client.")
        plain.append(note)
        html.append(f"<p>{escape(note)}</p>")
    return "\n".join(plain), "".join(html)

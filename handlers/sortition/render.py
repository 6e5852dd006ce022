"""The texts of draws: the call for witnesses, the frozen pool's announcement, each member's private
entry, the result and the cancellation (plain text; ``render.notice`` makes the HTML from it).

What is public follows ``docs/spec/sortition.md``: type counts under 5 are shown as ``<5``; a member's
own pseudonym, salt, type and probability go to them alone; the drawn are named (they take a seat),
but never next to their pseudonym or type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import tzinfo
from fractions import Fraction
from typing import Any

from harmony_matrix.sortition.arguments import PoolKind, SeatPower
from harmony_matrix.sortition.design import public_counts
from harmony_matrix.sortition.draws import Draw
from harmony_matrix.sortition.frozen import PoolMember
from harmony_matrix.when import format_duration, format_local


def percent(p: Fraction) -> str:
    """``1/3 (33.3%)``."""
    return f"{p} ({float(p) * 100:.1f}%)"


def _term(draw: Draw, tz: tzinfo) -> str:
    request = draw.request
    if request.term_ends is not None:
        return f"until {format_local(request.term_ends, tz)}"
    assert request.term_length is not None
    return f"for {format_duration(request.term_length)} from the draw"


def describe_request(draw: Draw, *, tz: tzinfo) -> list[str]:
    """The lines every post about a draw starts from: purpose, seats, pool, quotas, term."""
    request = draw.request
    pool = (f"registered members taking part in {draw.assembly}" if request.pool is PoolKind.MEMBERS
            else f"registered members of the assemblies nested in {draw.assembly}, by branch")
    seats = f"{request.seats} seat(s)" if request.seats is not None else f"{request.per_branch} seat(s) per branch"
    if request.per_branch is not None and request.seats is not None:
        seats += f", {request.per_branch} per branch"
    power = " with moderator power" if request.power is SeatPower.MODERATOR else ""
    lines = [f"Purpose: {request.purpose}", f"Seats: {seats} in {request.seat_in}{power}, {_term(draw, tz)}",
             f"Pool: {pool}"]
    if request.quotas:
        lines.append("Quotas: " + "; ".join(q.describe() for q in request.quotas))
    if request.authorised_by:
        lines.append(f"Authorised by: {request.authorised_by}")
    if request.beacon:
        lines.append(f"Beacon: {request.beacon}")
    return lines


def setup_text(draw: Draw, *, tz: tzinfo, prefix: str) -> str:
    """The call for witnesses, posted when a draw is announced."""
    witnesses = ", ".join(w.user for w in draw.witnesses)
    return "\n".join([
        f"🎲 Draw {draw.ref} is announced.", *describe_request(draw, tz=tz),
        f"Witnesses: {witnesses}. Each commits now, by DM or here: {prefix} draw commit {draw.ref} <sha256 of a "
        "secret>. The pool is frozen and announced once every witness has committed; then the witnesses "
        "reveal their secrets, and the lot is drawn from them."])


def witness_text(draw: Draw, *, prefix: str) -> str:
    """The private request to a witness: how to make a secret and commit to it."""
    return (f"You are a witness of draw {draw.ref} ({draw.request.purpose}). Your secret makes the lot: "
            "nobody, the bot included, can steer it while one witness keeps theirs until the pool is frozen.\n"
            "1. Make a secret: python3 -c 'import secrets; print(secrets.token_hex(16))'\n"
            "2. Commit to it (its SHA-256): printf %s YOUR-SECRET | sha256sum\n"
            f"   then send: {prefix} draw commit {draw.ref} <the 64 hex digits>\n"
            f"3. When I announce the pool frozen, send: {prefix} draw reveal {draw.ref} YOUR-SECRET\n"
            "Keep the secret to yourself until then.")


def announcement_text(draw: Draw, *, tz: tzinfo, prefix: str, left_out: Sequence[str]) -> str:
    """The frozen pool's announcement: everything ``docs/spec/sortition.md`` lists, and the commitments."""
    frozen = draw.frozen
    assert frozen is not None and draw.reveal_by is not None
    size = sum(entry["count"] for entry in frozen["types"])
    counts = public_counts((entry["type"], entry["count"]) for entry in frozen["types"])
    lines = [f"🎲 Draw {draw.ref}: the pool is frozen.", *describe_request(draw, tz=tz),
             f"Pool: {size} members, by type:", *(f"  {label}: {count}" for label, count in counts),
             "Witnesses and their commitments:", *(f"  {w.user}: {w.commitment}" for w in draw.committed)]
    if left_out:
        lines.append("Named but did not commit (left out): " + ", ".join(left_out))
    lines += [
        f"Pool commitment: {frozen['pool_commitment']}",
        f"Algorithm: {frozen['algorithm']}, {len(frozen['tickets'])} equally likely tickets "
        f"(tickets hash {frozen['tickets_hash']})",
        f"Witnesses: reveal by {format_local(draw.reveal_by, tz)} with {prefix} draw reveal {draw.ref} <secret>. "
        "Each member of the pool has been told privately their pseudonym, salt, type and chance."]
    return "\n".join(lines)


def member_text(draw: Draw, member: PoolMember, *, user: str) -> str:
    """One member's private entry in the frozen pool."""
    return (f"You are in the pool of draw {draw.ref} ({draw.request.purpose}).\n"
            f"Your pseudonym: {member.pseudonym}\nYour salt: {member.salt}\n"
            f"Your recorded type: {member.type}\nYour chance of being drawn: {percent(member.probability)}\n"
            f"Once the result is posted, check your entry: python3 verify_draw.py {draw.ref}.json --member "
            f"{user} {member.salt}\nThis message is for you only; the pseudonym names nobody without the salt.")


def result_text(draw: Draw, record: Mapping[str, Any], *, names: Sequence[str], replaced: int, tz: tzinfo,
                prefix: str, term_ends: str) -> str:
    """The result: who takes a seat, the seed and the ticket, and how to check it."""
    revealed = [w["user"] for w in record["witnesses"] if w["reveal"] is not None]
    silent = [w["user"] for w in record["witnesses"] if w["reveal"] is None]
    lines = [f"🎲 Draw {draw.ref} is drawn: {', '.join(names) or 'nobody'} take(s) a seat in "
             f"{draw.request.seat_in} until {term_ends}.",
             f"Seed: {record['seed']}",
             f"Ticket: {record['ticket']} of {len(record['tickets'])}: "
             + ", ".join(f"{label} {n}" for label, n in sorted(record["tickets"][record["ticket"]].items())),
             f"Witnesses who revealed: {', '.join(revealed)}"]
    if silent:
        lines.append(f"Did not reveal in time (recorded, left out of the seed): {', '.join(silent)}")
    if replaced:
        lines.append(f"{replaced} drawn member(s) had asked to be forgotten; the next alternate of the same "
                     "type takes each seat.")
    lines += [f"Alternates kept: {len(record['alternates'])}, in lot order; one takes the seat of a member "
              f"of the same type who stands down ({prefix} seat stand-down {draw.ref}).",
              f"The record is the file {draw.ref}.json; anyone can check it with python3 verify_draw.py "
              f"{draw.ref}.json (standard library only)."]
    return "\n".join(lines)


def cancelled_text(draw: Draw, reason: str, *, with_record: bool) -> str:
    """A cancellation, kept on record."""
    tail = f" Its record is the file {draw.ref}.json." if with_record else ""
    return f"🎲 Draw {draw.ref} ({draw.request.purpose}) is cancelled: {reason}. It stays on record.{tail}"

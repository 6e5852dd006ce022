"""Consensus checks (issue 14.1): stances by reaction, whose count, the reading and the verdict's rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harmony_matrix.consensus.checks import (
    Check,
    Reading,
    Stance,
    StanceRecord,
    Thresholds,
    current_stances,
    render_tally,
    scale_text,
    stance_of_key,
    tally,
    verdict_refusal,
)
from harmony_matrix.ids import EventId, RoomId, UserId

T = Thresholds()  # 75% approval, 50% disagreement, 3 members
CHECK = Check(ref="C-ops-1", assembly="ops", proposal="P-ops-1", room_id=RoomId("!r:x"),
              opened_at=datetime(2026, 3, 1, tzinfo=UTC), opened_by=UserId("@s:x"))


def stance(user: str, kind: Stance, ts: int = 1, *, member: bool = True, withdrawn: bool = False) -> StanceRecord:
    return StanceRecord(user=UserId(user), stance=kind, event_id=EventId(f"${user}{ts}"), ts=ts, member=member,
                        withdrawn=withdrawn)


def test_reaction_keys_read_as_stances_whatever_their_variant() -> None:
    assert stance_of_key("👍") is Stance.AGREE and stance_of_key("👍\ufe0f") is Stance.AGREE
    assert stance_of_key("👍🏾") is Stance.AGREE
    assert stance_of_key("🤷🏽\u200d♀\ufe0f") is Stance.STAND_ASIDE
    assert stance_of_key("👎") is Stance.DISAGREE and stance_of_key("🛑") is Stance.BLOCK
    assert stance_of_key("5\ufe0f\u20e3") is None and stance_of_key("❤️") is None
    assert all(s.value in scale_text() and s.key in scale_text() for s in Stance)


def test_the_latest_standing_reaction_is_the_stance() -> None:
    records = [stance("@a:x", Stance.AGREE, 1), stance("@a:x", Stance.BLOCK, 2),
               stance("@b:x", Stance.AGREE, 1), stance("@b:x", Stance.DISAGREE, 3, withdrawn=True)]
    held = current_stances(records)
    assert held[UserId("@a:x")].stance is Stance.BLOCK and held[UserId("@b:x")].stance is Stance.AGREE


@pytest.mark.parametrize(("stances", "reading"), [
    ({Stance.AGREE: 3}, Reading.BROAD_APPROVAL),
    ({Stance.AGREE: 3, Stance.DISAGREE: 1}, Reading.BROAD_APPROVAL),  # 75% exactly
    ({Stance.AGREE: 2, Stance.DISAGREE: 1}, Reading.UNCLEAR),  # 67%: neither
    ({Stance.AGREE: 5, Stance.BLOCK: 1}, Reading.BLOCKED),
    ({Stance.DISAGREE: 2, Stance.AGREE: 2}, Reading.BROAD_DISAGREEMENT),  # 50%
    ({Stance.AGREE: 2}, Reading.TOO_FEW),
    ({Stance.BLOCK: 1}, Reading.BLOCKED),  # one block stands however few took a stance
    ({Stance.STAND_ASIDE: 3}, Reading.UNCLEAR),  # nobody took a side
    ({Stance.AGREE: 1, Stance.STAND_ASIDE: 2}, Reading.BROAD_APPROVAL),  # standing aside takes no side
])
def test_the_reading_follows_the_thresholds(stances: dict[Stance, int], reading: Reading) -> None:
    records = [stance(f"@{kind.name}{i}:x", kind) for kind, n in stances.items() for i in range(n)]
    assert tally(records, T).reading is reading


def test_participants_are_shown_apart_and_do_not_count() -> None:
    records = [stance("@a:x", Stance.AGREE), stance("@b:x", Stance.AGREE), stance("@c:x", Stance.AGREE),
               stance("@p:x", Stance.BLOCK, member=False), stance("@q:x", Stance.DISAGREE, member=False)]
    result = tally(records, T)
    assert result.reading is Reading.BROAD_APPROVAL
    assert result.members[Stance.AGREE] == 3 and result.participants[Stance.BLOCK] == 1
    text = render_tally(CHECK, result, title="Buy a projector", reasons={UserId("@p:x"): "too dear"},
                        names={UserId("@p:x"): "Pat (@p:x)"}, thresholds=T)
    assert "Members (counted): 3 agree, 0 stand aside, 0 disagree, 0 block" in text
    assert "Participants (not counted): 0 agree, 0 stand aside, 1 disagree, 1 block" in text
    # Reasons are listed by person, never labelled member or not: membership is private.
    assert "🛑 block — Pat (@p:x): “too dear”" in text and "participant)" not in text
    assert "👎 disagree — @q:x: no reason given yet" in text
    assert "Reading: broad approval (broad approval: at least 75% of the members taking a side agree" in text


@given(st.lists(st.tuples(st.sampled_from(["@a:x", "@b:x", "@c:x", "@d:x"]), st.sampled_from(list(Stance)),
                          st.booleans()), max_size=12))
def test_a_block_by_a_member_always_blocks_and_counts_never_exceed_people(
        reactions: list[tuple[str, Stance, bool]]) -> None:
    records = [stance(user, kind, ts, member=member) for ts, (user, kind, member) in enumerate(reactions)]
    result = tally(records, T)
    held = current_stances(records)
    assert sum(result.members.values()) + sum(result.participants.values()) == len(held)
    assert (result.reading is Reading.BLOCKED) == any(r.member and r.stance is Stance.BLOCK for r in held.values())


def test_the_verdict_must_agree_with_the_check_and_a_block_needs_a_ballot() -> None:
    blocked = tally([stance("@a:x", Stance.AGREE), stance("@b:x", Stance.BLOCK)], T)
    refusal = verdict_refusal("reached", check=CHECK, result=blocked, prefix="!h")
    assert refusal and "a block can only be overridden by a ballot: !h consensus P-ops-1 deadlock" in refusal
    assert verdict_refusal("rejected", check=CHECK, result=blocked, prefix="!h") is None
    assert verdict_refusal("deadlock", check=CHECK, result=blocked, prefix="!h") is None
    approval = tally([stance(f"@{i}:x", Stance.AGREE) for i in range(3)], T)
    assert verdict_refusal("reached", check=CHECK, result=approval, prefix="!h") is None
    assert "not broad disagreement" in (verdict_refusal("rejected", check=CHECK, result=approval, prefix="!h") or "")


def test_thresholds_that_could_both_hold_are_refused() -> None:
    with pytest.raises(ValueError):
        Thresholds(broad_approval=0.5, broad_disagreement=0.5)

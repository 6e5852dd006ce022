"""The federation protocol's pure rules: peers and rights, message schema, who may send what,
what a nesting request gets, which links the federation file asks for (docs/FEDERATION.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harmony_matrix.assemblies.assembly import Assembly
from harmony_matrix.assemblies.errors import InvalidAssembly
from harmony_matrix.assemblies.federation_file import FederationFileError, load_federation
from harmony_matrix.config import Config, ConfigError, load_config
from harmony_matrix.consensus.decisions import ChainEntry, Decision, Level, Method, append
from harmony_matrix.consensus.precedence import decisions_in_force
from harmony_matrix.federation_peers.decisions import (
    RemoteRecord,
    ancestors_across,
    chain_head_state,
    decision_state,
    read_published,
)
from harmony_matrix.federation_peers.links import (
    Link,
    LinkState,
    Side,
    Verdict,
    check_sender,
    judge_nest_request,
    peer_for_alias,
    plan_child_links,
)
from harmony_matrix.federation_peers.messages import (
    FederationMessage,
    Kind,
    MalformedMessage,
    answer,
    parse_message,
    request_key,
)
from harmony_matrix.federation_peers.peers import Peer, PeerRight, Peers, authorise
from harmony_matrix.ids import UserId

WALES = UserId("@harmony:wales.example")
SCOTS = UserId("@harmony:scot.example")
ROGUE = UserId("@rogue:evil.example")
PEERS = Peers([Peer(WALES, frozenset({PeerRight.NEST, PeerRight.DECISIONS})), Peer(SCOTS, frozenset())])
CHILD, PARENT = "!wales-space", "!party-space"


def request(key: str = "nest.request:!wales-space:!party-space:1") -> FederationMessage:
    return FederationMessage(kind=Kind.NEST_REQUEST, key=key, child_space=CHILD, parent_space=PARENT,
                             via=("wales.example",), child_name="Wales Regional Assembly",
                             parent_alias="#party:national.example")


# --- peers ------------------------------------------------------------------------------------
def test_a_bot_that_is_no_peer_is_refused_as_untrusted() -> None:
    refusal = authorise(PEERS, ROGUE, None)
    assert refusal is not None and refusal.untrusted
    assert "@rogue:evil.example is not a trusted peer" in refusal.reason


def test_a_peer_without_a_right_is_refused_with_its_rights_named() -> None:
    refusal = authorise(PEERS, SCOTS, PeerRight.DECISIONS)
    assert refusal is not None and not refusal.untrusted
    assert "may not publish decisions that count" in refusal.reason and "none" in refusal.reason
    assert authorise(PEERS, WALES, PeerRight.DECISIONS) is None


def test_the_peer_hosting_an_alias_is_found_by_its_server() -> None:
    assert peer_for_alias(PEERS, "#party:wales.example") == PEERS.get(WALES)
    assert peer_for_alias(PEERS, "#party:unknown.example") is None


# --- messages ---------------------------------------------------------------------------------
def test_a_message_survives_its_round_trip_through_content() -> None:
    message = request()
    content = message.to_content("Please nest Wales.")
    assert content["version"] == 1 and content["kind"] == "nest.request" and content["body"] == "Please nest Wales."
    assert parse_message(content) == message


@pytest.mark.parametrize(("change", "problem"), [
    ({"version": 2}, "version must be 1"),
    ({"kind": "nest.please"}, "unknown kind"),
    ({"child_space": "wales"}, "child_space is not a room ID"),
    ({"via": []}, "via must be a list of 1 to 3 server names"),
    ({"via": ["a b"]}, "via holds something that is not a server name"),
    ({"key": ""}, "key is empty"),
    ({"key": "k" * 401}, "key is longer than 400 characters"),
    ({"child_name": 5}, "child_name must be text"),
    ({"parent_alias": "party"}, "parent_alias is not a room alias"),
])
def test_a_malformed_message_is_refused_naming_the_field(change: dict[str, object], problem: str) -> None:
    content = {**request().to_content("x"), **change}
    with pytest.raises(MalformedMessage, match=problem):
        parse_message(content)


def test_a_message_missing_a_field_of_its_kind_is_refused() -> None:
    content = request().to_content("x")
    del content["via"]
    with pytest.raises(MalformedMessage, match="nest.request lacks via"):
        parse_message(content)
    with pytest.raises(MalformedMessage, match="not an object"):
        parse_message([])  # type: ignore[arg-type]


def test_every_field_its_kind_needs_is_written_even_when_empty() -> None:
    refused = answer(request(), Kind.NEST_REFUSED)
    assert parse_message(refused.to_content("Refused.")) == refused


def test_keys_are_fixed_by_the_request_and_answers_derive_from_it() -> None:
    key = request_key(Kind.NEST_REQUEST, child_space=CHILD, parent_space=PARENT, epoch=1733)
    assert key == "nest.request:!wales-space:!party-space:1733"
    reply = answer(request(key), Kind.NEST_ACCEPTED, via=["national.example"])
    assert reply.key == "nest.request:!wales-space:!party-space:1733/nest.accepted"
    assert (reply.child_space, reply.parent_space, reply.via) == (CHILD, PARENT, ("national.example",))


# --- a nesting request ------------------------------------------------------------------------
def judge(sender: str = WALES, *, host: str | None = WALES, existing: Link | None = None,
          spaces: dict[str, str] | None = None, ancestors: tuple[str, ...] = ()) -> Verdict:
    return judge_nest_request(request(), sender=sender, peers=PEERS, local_spaces=spaces or {PARENT: "party"},
                              child_host=host, existing=existing, ancestors=ancestors).verdict


def test_a_peer_with_the_nest_right_is_accepted_and_one_without_waits_for_the_secretary() -> None:
    assert judge(WALES) is Verdict.ACCEPT
    assert judge(SCOTS, host=SCOTS) is Verdict.PENDING


def test_a_request_is_refused_from_a_stranger_for_a_space_it_does_not_host_or_not_ours() -> None:
    assert judge(ROGUE, host=ROGUE) is Verdict.REFUSE
    assert judge(WALES, host=SCOTS) is Verdict.REFUSE  # Wales asks for a space the Scots host
    assert judge(WALES, host=None) is Verdict.REFUSE  # cannot read who hosts it
    assert judge(WALES, spaces={"!other": "party"}) is Verdict.REFUSE
    assert judge(WALES, spaces={PARENT: "party", CHILD: "wales"}) is Verdict.REFUSE
    assert judge(WALES, ancestors=(CHILD,)) is Verdict.REFUSE  # a cycle across instances


def test_a_request_already_linked_is_a_repeat_but_one_unlinked_since_is_judged_again() -> None:
    link = Link(Side.PARENT, "party", PARENT, CHILD, WALES, LinkState.LINKED, key="k")
    assert judge(existing=link) is Verdict.REPEAT
    assert judge(existing=Link(Side.PARENT, "party", PARENT, CHILD, WALES, LinkState.UNLINKED, key="k")) \
        is Verdict.ACCEPT


def test_answers_are_believed_only_from_the_peer_that_was_asked() -> None:
    ours = Link(Side.CHILD, "wales", CHILD, PARENT, SCOTS, LinkState.REQUESTED, key="k")
    accepted = answer(request(), Kind.NEST_ACCEPTED, via=["scot.example"])
    assert check_sender(accepted, sender=SCOTS, peers=PEERS, link=ours) is None
    refusal = check_sender(accepted, sender=WALES, peers=PEERS, link=ours)
    assert refusal is not None and "not the instance this nesting was made with" in refusal.reason
    refusal = check_sender(accepted, sender=SCOTS, peers=PEERS, link=None)
    assert refusal is not None and "no record" in refusal.reason
    untrusted = check_sender(accepted, sender=ROGUE, peers=PEERS, link=ours)
    assert untrusted is not None and untrusted.untrusted


def test_an_unnest_request_is_believed_only_from_the_childs_host() -> None:
    theirs = Link(Side.PARENT, "party", PARENT, CHILD, WALES, LinkState.LINKED, key="k")
    unnest = FederationMessage(kind=Kind.UNNEST_REQUEST, key="u", child_space=CHILD, parent_space=PARENT)
    assert check_sender(unnest, sender=WALES, peers=PEERS, link=theirs) is None
    assert check_sender(unnest, sender=SCOTS, peers=PEERS, link=theirs) is not None
    # an answer-side link does not make an unnest request believable
    ours = Link(Side.CHILD, "wales", CHILD, PARENT, WALES, LinkState.LINKED, key="k")
    assert check_sender(unnest, sender=WALES, peers=PEERS, link=ours) is not None


def test_the_child_side_asks_for_new_remote_parents_and_undoes_dropped_ones() -> None:
    linked = Link(Side.CHILD, "wales", CHILD, PARENT, WALES, LinkState.LINKED, key="k", remote_label="#party:n.example")
    refused = Link(Side.CHILD, "mid", "!mid", PARENT, WALES, LinkState.REFUSED, key="k", remote_label="#party:n.example")
    gone = Link(Side.CHILD, "old", "!old", PARENT, WALES, LinkState.UNLINKED, key="k", remote_label="#party:n.example")
    plan = plan_child_links([("wales", "#party:n.example"), ("mid", "#party:n.example"), ("old", "#party:n.example"),
                             ("new", "#party:n.example")], [linked, refused, gone])
    assert plan.to_request == (("new", "#party:n.example"), ("old", "#party:n.example"))
    assert plan.to_unlink == ()
    plan = plan_child_links([], [linked, refused, gone])
    assert plan.to_request == () and plan.to_unlink == (linked,)


# --- configuration and the federation file ------------------------------------------------------
def test_remote_parents_in_the_federation_file_must_be_aliases() -> None:
    text = ("version: 1\nassemblies:\n  - slug: wales\n    name: Wales\n    kind: region\n"
            "    remote_parents: ['#party:national.example:8448']\n")
    assert load_federation(text, source="f.yaml")["wales"].remote_parents == ("#party:national.example:8448",)
    with pytest.raises(FederationFileError, match=r"f.yaml, line 6: .*'party' is not a space alias"):
        load_federation(text.replace("#party:national.example:8448", "party"), source="f.yaml")
    with pytest.raises(InvalidAssembly, match="listed twice"):
        Assembly(slug="w", name="W", kind="region", remote_parents=("#a:b", "#a:b"))  # type: ignore[arg-type]


BASE = "homeserver: {url: 'http://localhost:8008'}\nbot: {user_id: '@bot:localhost', access_token: t}\n"


def config_from(text: str, tmp_path: Path) -> Config:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_config(path)


def test_peers_in_the_config_with_their_rights(tmp_path: Path) -> None:
    config = config_from(BASE + "federation:\n  peers:\n    - {user_id: '@harmony:wales.example', "
                                "may: [nest, decisions]}\n", tmp_path)
    peers = config.federation.peer_directory()
    peer = peers.get("@harmony:wales.example")
    assert peer is not None and peer.rights == {PeerRight.NEST, PeerRight.DECISIONS}


@pytest.mark.parametrize(("peers", "problem"), [
    ("[{user_id: 'wales', may: [nest]}]", "federation.peers.0.user_id"),
    ("[{user_id: '@a:w.example', may: [rule]}]", "federation.peers.0.may.0"),
    ("[{user_id: '@a:w.example'}, {user_id: '@b:w.example'}]", "two peers on the same server"),
])
def test_bad_peers_in_the_config_are_named(peers: str, problem: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=problem):
        config_from(BASE + f"federation:\n  peers: {peers}\n", tmp_path)


# --- decisions published across instances -------------------------------------------------------
NATIONAL = UserId("@harmony:national.example")
READER_PEERS = Peers([Peer(NATIONAL, frozenset({PeerRight.DECISIONS})), Peer(SCOTS, frozenset())])


def national_entry(*, assembly: str = "party", ref: str = "D-party-1", level: Level = Level.ALL_THING) -> ChainEntry:
    decision = Decision(ref=ref, assembly=assembly, level=level, method=Method.CONSENSUS, outcome="reached",
                        statement="Rent caps everywhere.", topics=("housing",),
                        decided_at=datetime(2026, 11, 1, 12, tzinfo=UTC))
    return append([], decision)


def space_state(entry: ChainEntry, *, sender: str = NATIONAL, creator: str = NATIONAL, slug: str = "party",
                content: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return [
        {"type": "m.room.create", "state_key": "", "sender": creator, "content": {"type": "m.space"}},
        {"type": "org.harmony.assembly", "state_key": "", "sender": creator, "content": {"slug": slug}},
        {"type": "org.harmony.decision_chain", "state_key": "", "sender": creator, "content": chain_head_state(entry)},
        {"type": "org.harmony.decision", "state_key": entry.decision.ref, "sender": sender,
         "content": content if content is not None else decision_state(entry)},
    ]


def test_a_decision_published_by_the_host_is_read_renamed_and_with_its_chain() -> None:
    entry = national_entry()
    published = read_published(space_state(entry), peers=READER_PEERS, server="national.example")
    assert published.assembly == "party@national.example" and published.ignored == ()
    (found,) = published.decisions
    assert found.decision.ref == "D-party-1@national.example"
    assert found.decision.assembly == "party@national.example"
    assert found.entry.hash == entry.hash and found.head == (1, entry.hash)


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"sender": ROGUE}, "not by the bot hosting the space"),  # someone else with power in the space
    ({"sender": SCOTS, "creator": SCOTS}, "may not publish decisions that count"),
    ({"sender": ROGUE, "creator": ROGUE}, "is not a trusted peer"),
    ({"slug": "wales"}, "a peer records decisions only for the assemblies it hosts"),
])
def test_a_published_decision_that_is_not_the_hosts_own_counts_for_nothing(kwargs: dict[str, Any], reason: str) -> None:
    published = read_published(space_state(national_entry(), **kwargs), peers=READER_PEERS, server="n")
    assert published.decisions == ()
    assert reason in published.ignored[0].reason


def test_a_published_decision_whose_content_was_changed_fails_its_hash() -> None:
    entry = national_entry()
    content = decision_state(entry)
    content["entry"]["decision"]["statement"] = "No rent caps."
    published = read_published(space_state(entry, content=content), peers=READER_PEERS, server="n")
    assert published.decisions == () and "hash does not match" in published.ignored[0].reason
    content = {"version": 1, "entry": {"seq": 1}}
    published = read_published(space_state(entry, content=content), peers=READER_PEERS, server="n")
    assert "malformed" in published.ignored[0].reason


def test_a_national_all_thing_decision_overrides_a_regional_one_on_the_same_topic() -> None:
    national = read_published(space_state(national_entry()), peers=READER_PEERS, server="national.example")
    regional = Decision(ref="D-wales-1", assembly="wales", level=Level.MOOT, method=Method.CONSENSUS,
                        outcome="reached", statement="No rent caps here.", topics=("housing",),
                        decided_at=datetime(2026, 11, 20, tzinfo=UTC))
    record = RemoteRecord(decisions=national.decisions, remote_parents={"wales": frozenset({"party@national.example"})})
    ancestors = ancestors_across(lambda slug: frozenset(), record)
    assert ancestors("wales") == {"party@national.example"}
    (item,) = decisions_in_force([regional, *(r.decision for r in record.decisions)], assembly="wales",
                                 topic="housing", ancestors_of=ancestors)
    assert item.decision.ref == "D-party-1@national.example"
    assert [(link.loser, link.relation.value) for link in item.displaced] == [("D-wales-1", "overridden")]


def test_a_national_moot_decision_trumps_a_regional_one_through_a_local_umbrella() -> None:
    national = read_published(space_state(national_entry(level=Level.MOOT)), peers=READER_PEERS,
                              server="national.example")
    city = Decision(ref="D-cardiff-1", assembly="cardiff", level=Level.MOOT, method=Method.CONSENSUS,
                    outcome="reached", statement="Cardiff's own.", topics=("housing",),
                    decided_at=datetime(2026, 11, 20, tzinfo=UTC))
    record = RemoteRecord(decisions=national.decisions, remote_parents={"wales": frozenset({"party@national.example"})})
    # cardiff is nested in wales locally; wales in the national party remotely.
    ancestors = ancestors_across(lambda slug: frozenset({"wales"}) if slug == "cardiff" else frozenset(), record)
    assert ancestors("cardiff") == {"wales", "party@national.example"}
    (item,) = decisions_in_force([city, *(r.decision for r in record.decisions)], assembly="cardiff",
                                 topic="housing", ancestors_of=ancestors)
    assert item.decision.ref == "D-party-1@national.example"
    assert [link.relation.value for link in item.displaced] == ["trumped"]


# --- the space state of a nesting across instances ------------------------------------------------
def test_a_space_carries_its_remote_parent_and_children_and_a_participants_room_allows_them() -> None:
    from harmony_matrix.assemblies.assembly import Access
    from harmony_matrix.assemblies.room_policy import RoomKind, desired_room_state
    from harmony_matrix.ids import RoomId

    wales = Assembly(slug="wales", name="Wales", kind="region")  # type: ignore[arg-type]
    state = desired_room_state(
        wales, RoomKind.SPACE, bot=UserId("@bot:wales.example"), via=["wales.example"], space_id=RoomId("!w"),
        creator_is_bot=True, remote_parents=[(RoomId("!party"), ["national.example"])],
        remote_children=[(RoomId("!cardiff"), ["cardiff.example"])])
    assert state.get("m.space.parent", "!party") == {"via": ["national.example"], "canonical": True}
    assert state.get("m.space.child", "!cardiff") == {"via": ["cardiff.example"], "suggested": False}
    forum = Assembly(slug="forum", name="Forum", kind="working-group", access=Access.PARTICIPANTS,  # type: ignore[arg-type]
                     parents=("party",))
    for kind in (RoomKind.SPACE, RoomKind.DISCUSSION):
        rules = desired_room_state(
            forum, kind, bot=UserId("@bot:n.example"), via=["n.example"], space_id=RoomId("!forum"),
            parent_space_ids=[RoomId("!party")], creator_is_bot=True, remote_allowed=[RoomId("!w")]).get(
            "m.room.join_rules")
        assert rules is not None and {"type": "m.room_membership", "room_id": "!w"} in rules["allow"]
        assert {"type": "m.room_membership", "room_id": "!party"} in rules["allow"]

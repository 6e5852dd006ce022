"""End-to-end encryption at the edge, without a homeserver: what the gateway sends encrypted and what in
the clear, how a room's encryption is known, what happens to an event the bot cannot decrypt, and how
nio's local refusals surface. ``tests/integration/test_encrypted_dms.py`` does the cryptography for real."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from nio import Event, MegolmEvent, RoomMessageText
from nio.exceptions import EncryptionError, OlmTrustError

from handlers.matrix.crypto import UNREADABLE_NOTICE, CryptoSync, RoomCrypto
from handlers.matrix.errors import EncryptionFailed
from handlers.matrix.gateway import MatrixGateway, Member, new_txn_id
from handlers.matrix.posting import Poster
from harmony_matrix.event_types import MEGOLM_ALGORITHM, ROOM_ENCRYPTION
from harmony_matrix.ids import EventId, RoomId, UserId
from tests.fakes.gateway import FakeGateway, FakeRoom
from tests.fakes.harness import EdgeHarness

BOT = "@bot:test"
ALICE = "@alice:test"
SECRET = RoomId("!secret:test")
PLAIN = RoomId("!plain:test")


class StubEncryption:
    """The gateway's ``Encryption``: ``SECRET`` is encrypted; sends and uploads are recorded."""

    direct_chats_encrypted = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def is_encrypted(self, room_id: str) -> bool:
        return room_id == SECRET

    async def send(self, room_id: str, event_type: str, content: dict[str, Any], *, txn_id: str) -> EventId:
        self.sent.append((room_id, event_type, txn_id))
        return EventId("$encrypted")

    async def upload(self, data: bytes) -> dict[str, Any]:
        return {"url": "mxc://test/ciphertext", "key": {"k": "secret"}, "iv": "iv", "hashes": {}, "v": "v2"}


class RecordingGateway(MatrixGateway):
    """The real gateway's routing, with the HTTP requests recorded instead of made."""

    def __init__(self) -> None:
        super().__init__(FakeGateway(BOT).fake_client)
        self.requests: list[tuple[str, str, Any]] = []

    async def request(self, method: str, path: str, body: Any = None, *,
                      query: dict[str, Any] | None = None) -> dict[str, Any]:
        self.requests.append((method, path, body))
        return {"event_id": "$clear", "room_id": "!created:test"}

    async def upload(self, data: bytes, *, content_type: str, filename: str) -> str:
        return f"mxc://test/{filename}"


@pytest.fixture
def gateway() -> RecordingGateway:
    gateway = RecordingGateway()
    gateway.encryption = StubEncryption()
    return gateway


async def test_messages_in_encrypted_rooms_are_encrypted_with_the_same_txn_id(gateway: RecordingGateway) -> None:
    assert await gateway.send_event(SECRET, "m.room.message", {"body": "hi"}, txn_seed="reply:$1") == "$encrypted"
    assert isinstance(gateway.encryption, StubEncryption)
    assert gateway.encryption.sent == [(SECRET, "m.room.message", new_txn_id("reply:$1"))]
    assert gateway.requests == []


async def test_reactions_and_unencrypted_rooms_stay_in_the_clear(gateway: RecordingGateway) -> None:
    await gateway.react(SECRET, "$poll", "1️⃣", txn_seed="seed")
    await gateway.send_event(PLAIN, "m.room.message", {"body": "hi"})
    assert [path.split("/")[5] for _, path, _ in gateway.requests] == ["m.reaction", "m.room.message"]
    assert isinstance(gateway.encryption, StubEncryption) and gateway.encryption.sent == []


async def test_attachments_are_encrypted_where_the_room_is(gateway: RecordingGateway) -> None:
    encrypted = await gateway.attach(SECRET, b"{}", content_type="application/json", filename="data.json")
    assert set(encrypted) == {"file"} and encrypted["file"]["url"] == "mxc://test/ciphertext"
    assert await gateway.attach(PLAIN, b"{}", content_type="application/json", filename="data.json") == \
        {"url": "mxc://test/data.json"}


async def test_direct_chats_the_bot_opens_are_encrypted_unless_configured_off(gateway: RecordingGateway) -> None:
    await gateway.create_direct_room(ALICE)
    assert gateway.requests[-1][2]["initial_state"] == [
        {"type": ROOM_ENCRYPTION, "state_key": "", "content": {"algorithm": MEGOLM_ALGORITHM}}]
    assert isinstance(gateway.encryption, StubEncryption)
    gateway.encryption.direct_chats_encrypted = False
    await gateway.create_direct_room(ALICE)
    assert "initial_state" not in gateway.requests[-1][2]


# -- RoomCrypto and CryptoSync over a stand-in for nio's client ---------------------------------------

class StubOlm:
    def __init__(self) -> None:
        self.tracked: list[str] = []

    def update_tracked_users(self, room: Any) -> None:
        self.tracked.append(room.room_id)


class StubNioClient:
    """What ``RoomCrypto`` and ``CryptoSync`` use of nio's ``AsyncClient``."""

    def __init__(self, *, readable_sessions: set[str] = frozenset(), refuse: Exception | None = None) -> None:
        self.user_id = BOT
        self.device_id = "BOTDEVICE"
        self.rooms: dict[str, Any] = {}
        self.encrypted_rooms: set[str] = set()
        self.olm = StubOlm()
        self.readable_sessions = set(readable_sessions)
        self.refuse = refuse
        self.key_requests: list[str] = []
        self.should_query_keys = False

    def decrypt_event(self, event: MegolmEvent) -> Any:
        if event.session_id not in self.readable_sessions:
            raise EncryptionError("no session")
        return Event.parse_event({"type": "m.room.message", "event_id": event.event_id, "sender": event.sender,
                                  "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": "!h ping"}})

    async def request_room_key(self, event: MegolmEvent) -> None:
        self.key_requests.append(event.session_id)

    async def room_send(self, room_id: str, event_type: str, content: dict[str, Any], *, tx_id: str,
                        ignore_unverified_devices: bool) -> Any:
        assert ignore_unverified_devices
        if self.refuse is not None:
            raise self.refuse
        raise AssertionError("not expected to send")


def encrypted_event(event_id: str, session_id: str, *, sender: str = ALICE) -> MegolmEvent:
    event = Event.parse_event({
        "type": "m.room.encrypted", "event_id": event_id, "sender": sender, "origin_server_ts": 1,
        "content": {"algorithm": MEGOLM_ALGORITHM, "ciphertext": "AAAA", "sender_key": "KEY",
                    "device_id": "ALICEDEVICE", "session_id": session_id}})
    assert isinstance(event, MegolmEvent)
    return event


async def test_a_room_nio_does_not_know_as_encrypted_is_asked_of_the_server_once() -> None:
    fake = FakeGateway(BOT)
    crypto = RoomCrypto(client=StubNioClient(), gateway=fake)
    fake.state[(SECRET, ROOM_ENCRYPTION, "")] = {"algorithm": MEGOLM_ALGORITHM}
    assert await crypto.is_encrypted(SECRET) and not await crypto.is_encrypted(PLAIN)
    fake.state.clear()  # encryption cannot be turned off: the first answer stands
    assert await crypto.is_encrypted(SECRET)
    crypto.client.rooms[PLAIN] = FakeRoom(encrypted=True)  # nio saying "encrypted" is enough
    assert await crypto.is_encrypted(PLAIN)


async def test_nio_refusing_to_encrypt_is_a_typed_error_and_nothing_goes_out() -> None:
    fake = FakeGateway(BOT)
    fake.member_lists[SECRET] = [Member(UserId(BOT), "join"), Member(UserId(ALICE), "invite")]
    client = StubNioClient(refuse=OlmTrustError("untrusted"))
    crypto = RoomCrypto(client=client, gateway=fake)
    with pytest.raises(EncryptionFailed) as failed:
        await crypto.send(SECRET, "m.room.message", {"body": "hi"}, txn_id="hm1")
    assert failed.value.errcode == "HARMONY_E2EE" and fake.sent == []
    assert set(client.rooms[SECRET].users) == {BOT, ALICE} and client.olm.tracked == [SECRET]


async def test_an_unreadable_event_is_left_out_logged_once_and_its_sender_told_once(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    edge = EdgeHarness()
    client = StubNioClient(readable_sessions={"known"})
    sync = CryptoSync(crypto=RoomCrypto(client=client, gateway=edge.gateway),
                      poster=Poster(gateway=edge.gateway, direct=edge.direct))
    first, second, readable = (encrypted_event("$1", "lost"), encrypted_event("$2", "lost"),
                               encrypted_event("$3", "known"))

    ready = await sync.prepare(SECRET, [first, second, readable])
    again = await sync.prepare(SECRET, [first])  # the same batch replayed

    assert [type(e) for e in ready] == [RoomMessageText] and ready[0].event_id == "$3" and again == []
    [told] = edge.gateway.in_room(SECRET)
    assert told.body == UNREADABLE_NOTICE.format(device="BOTDEVICE")
    assert told.content["m.relates_to"]["m.in_reply_to"]["event_id"] == "$1"
    assert told.content["m.mentions"]["user_ids"] == [ALICE]
    assert client.key_requests == ["lost"]
    warnings = [r.getMessage() for r in caplog.records if r.name == "handlers.matrix.crypto"]
    assert [w.split()[4] for w in warnings] == ["$1", "$2"]


async def test_the_bots_own_unreadable_messages_are_left_out_silently() -> None:
    edge = EdgeHarness()
    client = StubNioClient()
    sync = CryptoSync(crypto=RoomCrypto(client=client, gateway=edge.gateway),
                      poster=Poster(gateway=edge.gateway, direct=edge.direct))
    assert await sync.prepare(SECRET, [encrypted_event("$old", "gone", sender=BOT)]) == []
    assert edge.gateway.sent == [] and client.key_requests == []

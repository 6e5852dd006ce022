"""End-to-end encryption for the bot's one device (matrix-nio's ``e2e`` extra, on vodozemac).

The bot keeps **one device**: its ID is stored with the session (``storage/core``) and reused on every
start, and its Olm account, Olm sessions and Megolm sessions live in nio's crypto store, a SQLite file
per user and device in ``bot.crypto_store``. A new device per start would lose every session people's
clients shared with the old one.

nio does the cryptography; this module does the upkeep that nio's ``sync_forever`` would do, for our own
sync loop (``handlers/matrix/dispatcher.py``), and the edges nio leaves to the caller:

* ``RoomCrypto`` (built at login by ``enable``, the gateway's ``encryption``):
  ``upkeep()`` after each /sync sends queued to-device messages, uploads the device's keys (at the
  start, and when the server runs low on one-time keys), queries the devices of people in encrypted
  rooms and claims one-time keys for wedged sessions. To-device events (room keys) are handled by nio
  itself when ``client.sync`` hands it the response, before the timeline is decrypted.
  ``send()``: a message (any event but a reaction) for an encrypted room goes through
  ``AsyncClient.room_send``, which shares the Megolm session with every device of the room's members
  (unverified ones included: nio has no cross-signing, see the README) and encrypts; the gateway's
  deterministic transaction ID is kept, and nio's local refusals become ``EncryptionFailed``.
  ``upload()``: attachments for encrypted rooms are encrypted (AES-CTR, the key in the message).
* ``CryptoSync`` (built with the dispatcher, the dispatcher's ``crypto``): ``prepare()`` decrypts a
  room's new events where nio did not (events filled from ``/messages`` never pass through nio) and
  takes out what stays unreadable: such an event is logged once by its event ID (never its content),
  its key is requested, and its sender is told once per Megolm session, in that room, that the bot
  could not read it and to send it again. The event itself is then not handled: acting on it later,
  after asking for it to be resent, would act twice.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from nio import AsyncClient, MatrixRoom, MegolmEvent, UploadResponse
from nio.crypto import ENCRYPTION_ENABLED
from nio.exceptions import EncryptionError, GroupEncryptionError, LocalProtocolError, OlmTrustError

from handlers.matrix.errors import EncryptionFailed, MatrixError, ServerUnavailable, raise_for
from handlers.matrix.gateway import MatrixGateway
from handlers.matrix.posting import Poster
from harmony_matrix.event_types import ROOM_ENCRYPTION
from harmony_matrix.ids import EventId, RoomId

log = logging.getLogger(__name__)

UNREADABLE_NOTICE = ("I could not read your encrypted message: my device ({device}) did not receive the key "
                     "for it. Please send it again.")

# How many event IDs and sessions are remembered for "once" (older ones may be reported again).
_REMEMBERED = 10_000


class EncryptionUnavailable(RuntimeError):
    """The crypto store cannot be used (the e2e extra is missing, or the device is unknown)."""


class _Once:
    """A bounded set: ``first(key)`` is True the first time a key is seen."""

    def __init__(self, size: int = _REMEMBERED) -> None:
        self._seen: OrderedDict[object, None] = OrderedDict()
        self._size = size

    def first(self, key: object) -> bool:
        """True the first time ``key`` is seen (while it is remembered)."""
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True


class RoomCrypto:
    """The bot device's keys and encrypted sends (the gateway's ``Encryption``). Built by ``enable``."""

    def __init__(self, *, client: AsyncClient, gateway: MatrixGateway, direct_chats_encrypted: bool = True) -> None:
        self.client = client
        self.gateway = gateway
        self.direct_chats_encrypted = direct_chats_encrypted
        self._keys_lock = asyncio.Lock()
        self._server_encryption: dict[str, bool] = {}
        self._members_loaded: set[str] = set()

    @property
    def device_id(self) -> str:
        """The bot's one device."""
        return str(self.client.device_id)

    # -- keys (what nio's sync_forever does between two syncs) -----------------------------------

    async def upkeep(self) -> None:
        """Send queued to-device messages, upload, query and claim keys as nio says is needed.

        A failure is logged and retried after the next sync; it never stops the sync loop."""
        client = self.client
        steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
        if client.outgoing_to_device_messages:
            steps.append(("send to-device messages", client.send_to_device_messages))
        async with self._keys_lock:
            if client.should_upload_keys:
                steps.append(("upload the device keys", client.keys_upload))
            if client.should_query_keys:
                steps.append(("query device keys", client.keys_query))
            if client.should_claim_keys:
                users = client.get_users_for_key_claiming()
                steps.append(("claim one-time keys", lambda: client.keys_claim(users)))
            for what, step in steps:
                try:
                    result = await step()
                    for response in result if isinstance(result, list) else [result]:
                        raise_for(response, what)
                except asyncio.CancelledError:
                    raise
                except (MatrixError, LocalProtocolError, OSError, TimeoutError) as exc:
                    log.warning("could not %s: %s", what, exc)

    async def _query_keys_if_needed(self) -> None:
        """Before encrypting: learn the devices of people who joined since the last sync. If the query
        fails, the message still goes to the devices already known (and the query is retried)."""
        async with self._keys_lock:
            if self.client.should_query_keys:
                try:
                    raise_for(await self.client.keys_query(), "/v3/keys/query")
                except MatrixError as exc:
                    log.warning("could not query device keys before encrypting: %s", exc)

    # -- sending ---------------------------------------------------------------------------------

    async def is_encrypted(self, room_id: str) -> bool:
        """Whether ``room_id`` is encrypted.

        nio's view is not enough to say "no": a sync running concurrently may have added a new room to
        its cache without having reached the room's ``m.room.encryption`` yet, and a message sent then
        would go out in the clear. So a room nio does not know as encrypted is asked of the server,
        once per room (encryption cannot be turned off again)."""
        room = self.client.rooms.get(room_id)
        if (room is not None and room.encrypted) or room_id in self.client.encrypted_rooms:
            return True
        known = self._server_encryption.get(room_id)
        if known is None:
            try:
                content = await self.gateway.get_state_event(room_id, ROOM_ENCRYPTION)
            except MatrixError:
                return False  # not a room the bot can read: the send itself will say why
            known = self._server_encryption[room_id] = bool(content and content.get("algorithm"))
        return known

    async def send(self, room_id: str, event_type: str, content: dict[str, Any], *, txn_id: str) -> EventId:
        """Encrypt and send an event into an encrypted room; return its event ID.

        ``txn_id`` is the gateway's (deterministic) transaction ID, so a send repeated after a crash is
        still deduplicated by the server, whatever the new ciphertext."""
        path = f"/v3/rooms/{room_id}/send/m.room.encrypted/{txn_id}"
        try:
            await self._ensure_room(room_id)
            await self._query_keys_if_needed()
            response = await self.client.room_send(room_id, event_type, content, tx_id=txn_id,
                                                   ignore_unverified_devices=True)
        except (OSError, TimeoutError) as exc:
            raise ServerUnavailable(str(exc) or exc.__class__.__name__, path=path) from exc
        except (LocalProtocolError, EncryptionError, GroupEncryptionError, OlmTrustError) as exc:
            raise EncryptionFailed(f"could not encrypt for the room: {exc}", path=path) from exc
        raise_for(response, path)
        return EventId(str(response.event_id))

    async def _ensure_room(self, room_id: str) -> None:
        """Make nio's cache of an encrypted room complete enough to share the key with everyone in it.

        nio encrypts only for rooms in its cache, and only for the members it has seen there. A room it
        has not synced yet (a DM the bot has just created), or is still taking in from a sync running
        concurrently, may lack members, whose devices would then never get the key. So before the first
        send to a room, its joined and invited members are read from the server and added."""
        if room_id in self._members_loaded and room_id in self.client.rooms:
            return
        members = await self.gateway.members(room_id)
        room = self.client.rooms.setdefault(room_id, MatrixRoom(room_id, self.client.user_id, encrypted=True))
        room.encrypted = True
        self.client.encrypted_rooms.add(room_id)
        for member in members:
            if member.membership in ("join", "invite"):
                room.add_member(member.user_id, member.display_name, None, invited=member.membership == "invite")
        self.client.olm.update_tracked_users(room)  # their devices are queried before the key is shared
        self._members_loaded.add(room_id)

    async def upload(self, data: bytes) -> dict[str, Any]:
        """Encrypt and upload an attachment; return the ``file`` object of the message content.

        No file name or content type is sent with the upload: in an encrypted room they belong inside
        the encrypted message, not in the server's media store."""
        try:
            response, keys = await self.client.upload(io.BytesIO(data), filename=None, encrypt=True,
                                                      filesize=len(data))
        except (OSError, TimeoutError) as exc:
            raise ServerUnavailable(str(exc) or exc.__class__.__name__, path="/media/v3/upload") from exc
        if not isinstance(response, UploadResponse) or keys is None:
            raise_for(response, "/media/v3/upload")
            raise MatrixError("upload failed", path="/media/v3/upload")
        return {"url": str(response.content_uri), **keys}


class CryptoSync:
    """What the dispatcher asks around each /sync (its ``SyncCrypto``): key upkeep, and each room's new
    events as handlers should see them. Unreadable events are answered through ``poster``."""

    def __init__(self, *, crypto: RoomCrypto, poster: Poster) -> None:
        self.crypto = crypto
        self.client = crypto.client
        self.poster = poster
        self._logged = _Once()
        self._told = _Once()
        self._requested = _Once()

    async def upkeep(self) -> None:
        """Key upload, query and claim and queued to-device messages (``RoomCrypto.upkeep``)."""
        await self.crypto.upkeep()

    async def prepare(self, room_id: RoomId, events: Sequence[Any]) -> list[Any]:
        """The room's new events, decrypted where the keys are known; an event that stays unreadable
        is reported (see the module docstring) and left out."""
        ready: list[Any] = []
        for event in events:
            if isinstance(event, MegolmEvent):
                decrypted = self._decrypt(room_id, event)
                if decrypted is None:
                    await self._unreadable(room_id, event)
                    continue
                event = decrypted
            ready.append(event)
        return ready

    def _decrypt(self, room_id: RoomId, event: MegolmEvent) -> Any | None:
        event.room_id = event.room_id or room_id
        try:
            return self.client.decrypt_event(event)
        except (EncryptionError, LocalProtocolError):
            return None

    async def _unreadable(self, room_id: RoomId, event: MegolmEvent) -> None:
        if event.sender == self.client.user_id:
            return  # the bot's own message from before its store existed: nobody to tell
        if self._logged.first(event.event_id):
            log.warning("could not decrypt event %s in %s (Megolm session %s): the key never reached this "
                        "device", event.event_id, room_id, event.session_id)
        if self._requested.first(event.session_id):
            try:
                await self.client.request_room_key(event)
            except (LocalProtocolError, OSError, TimeoutError) as exc:
                log.debug("could not request the key of session %s: %s", event.session_id, exc)
        if not self._told.first((room_id, event.sender, event.session_id)):
            return
        try:
            await self.poster.notice(
                room_id, UNREADABLE_NOTICE.format(device=self.crypto.device_id), reply_to=event.event_id,
                mentions=[event.sender], txn_seed=f"unreadable:{room_id}:{event.sender}:{event.session_id}")
        except MatrixError as exc:
            log.warning("could not tell the sender of %s that it was unreadable: %s", event.event_id, exc)


def enable(client: AsyncClient, gateway: MatrixGateway, *, direct_chats_encrypted: bool = True) -> RoomCrypto:
    """Load the crypto store of the logged-in device and route the gateway's encrypted sends through it.

    Call after login (``restore_login``/``login`` set the user and the stable device ID)."""
    if not ENCRYPTION_ENABLED:
        raise EncryptionUnavailable("end-to-end encryption needs matrix-nio[e2e] (vodozemac); install it")
    if not client.device_id:
        raise EncryptionUnavailable("the access token has no device ID, so no encryption keys can be kept")
    try:
        client.load_store()
    except LocalProtocolError as exc:
        raise EncryptionUnavailable(f"the crypto store cannot be opened: {exc}") from exc
    if client.olm is None:
        raise EncryptionUnavailable(f"the crypto store in {client.store_path!r} cannot be opened")
    crypto = RoomCrypto(client=client, gateway=gateway, direct_chats_encrypted=direct_chats_encrypted)
    gateway.encryption = crypto
    log.info("end-to-end encryption on: device %s, identity key %s", client.device_id,
             client.olm.account.identity_keys["ed25519"])
    return crypto

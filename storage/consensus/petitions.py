"""The petition store: petitions for re-election and their signatures (one per member)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from harmony_matrix.consensus.petitions import Petition, PetitionStatus, Signature, make_petition_ref
from harmony_matrix.consensus.roles import Role
from harmony_matrix.ids import EventId, UserId
from storage.consensus.models import PetitionRow, SignatureRow
from storage.consensus.numbering import insert_numbered
from storage.scope import ContextScope
from storage.timestamps import as_utc


async def _petition(row: PetitionRow) -> Petition:
    signatures = await SignatureRow.filter(petition_id=row.id).order_by("id")
    return Petition(
        ref=row.ref, assembly=row.assembly, role=Role(row.role), opened_at=row.opened_at.astimezone(UTC),
        opened_by=UserId(row.opened_by),
        signatures=tuple(Signature(UserId(s.user), s.signed_at.astimezone(UTC),
                                   None if s.event_id is None else EventId(s.event_id)) for s in signatures),
        status=PetitionStatus(row.status),
        candidates=tuple(UserId(c) for c in row.candidates or ()),
    )


async def _write_signatures(row: PetitionRow, petition: Petition, connection: BaseDBAsyncClient) -> None:
    """Add the petition's new signatures and drop the withdrawn ones."""
    have = {s.user for s in await SignatureRow.filter(petition_id=row.id).using_db(connection)}
    for signature in petition.signatures:
        if signature.user not in have:
            await SignatureRow.create(petition_id=row.id, user=signature.user,
                                      signed_at=as_utc(signature.signed_at, "signed_at"),
                                      event_id=signature.event_id, using_db=connection)
    await SignatureRow.filter(petition_id=row.id).exclude(
        user__in=[s.user for s in petition.signatures]).using_db(connection).delete()


class PetitionStore:
    def __init__(self, scope: ContextScope) -> None:
        self._scope = scope

    async def open_for(self, assembly: str) -> list[Petition]:
        """The assembly's open petitions, oldest first."""
        with self._scope():
            rows = await PetitionRow.filter(assembly=assembly, status=PetitionStatus.OPEN.value).order_by("id")
            return [await _petition(r) for r in rows]

    async def open(self, build: Callable[[str], Petition], *, assembly: str) -> Petition:
        """Store the new petition ``build(ref)`` returns (``ref``: ``assembly``'s next petition
        reference) with its signatures, in one transaction; returns it."""

        async def insert(connection: BaseDBAsyncClient) -> Petition:
            number = await PetitionRow.filter(assembly=assembly).using_db(connection).count() + 1
            petition = build(make_petition_ref(assembly, number))
            row = await PetitionRow.create(
                ref=petition.ref, assembly=petition.assembly, role=petition.role.value,
                opened_at=as_utc(petition.opened_at, "opened_at"), opened_by=petition.opened_by,
                status=petition.status.value, candidates=list(petition.candidates), using_db=connection)
            await _write_signatures(row, petition, connection)
            return petition

        return await insert_numbered(self._scope, insert)

    async def save(self, petition: Petition) -> None:
        """Write back an opened petition's status, candidates and signatures, in one transaction."""
        with self._scope():
            async with in_transaction("default") as connection:
                row = await PetitionRow.filter(ref=petition.ref).using_db(connection).first()
                if row is None:
                    raise LookupError(f"petition {petition.ref} was never opened")
                await PetitionRow.filter(id=row.id).using_db(connection).update(
                    status=petition.status.value, candidates=list(petition.candidates))
                await _write_signatures(row, petition, connection)

    async def signed_by(self, user: str) -> list[str]:
        """The references of the petitions ``user`` signed (for their data export)."""
        with self._scope():
            rows = await SignatureRow.filter(user=user).prefetch_related("petition")
        return [r.petition.ref for r in rows]

    async def forget_signer(self, user: str) -> None:
        """Erase ``user``'s signatures (for ``forget-me``)."""
        with self._scope():
            await SignatureRow.filter(user=user).delete()

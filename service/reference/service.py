from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.errors import Conflict, InvalidInput, NotFound
from service.reference.models import Reference
from service.reference.repository import ReferenceRow, reference_repository
from service.reference.schemas import ReferenceCreate, ReferenceUpdate, ReorderRequest
from service.track.repository import track_repository
from service.user.models import User


def _duplicate(collection_name: str) -> Conflict:
    return Conflict(f"the track is already in the collection {collection_name!r}", field="track_id")


class ReferenceService:
    def list_references(
        self,
        session: Session,
        *,
        user: User,
        collection_name: str | None = None,
        is_favorite: bool | None = None,
        limit: int,
        offset: int,
    ) -> tuple[list[ReferenceRow], int]:
        """A page of the user's references, by sort order, creation time and id, and how many match."""
        return reference_repository.list(
            session,
            user_id=user.id,
            collection_name=collection_name,
            is_favorite=is_favorite,
            limit=limit,
            offset=offset,
        )

    def collections(self, session: Session, *, user: User) -> list[tuple[str, int, int]]:
        """The user's collections by name, with how many references and favourites each holds."""
        return reference_repository.collections(session, user_id=user.id)

    def get(self, session: Session, *, user: User, reference_id: uuid.UUID) -> ReferenceRow:
        row = reference_repository.get(session, user_id=user.id, reference_id=reference_id)
        if row is None:
            raise NotFound("reference not found")
        return row

    def create(self, session: Session, *, user: User, data: ReferenceCreate) -> ReferenceRow:
        """Put one of the user's tracks in a collection (at its end unless a sort order is given)."""
        track = track_repository.get_or_404(session, user_id=user.id, track_id=data.track_id)
        name = data.collection_name
        if reference_repository.find(session, user_id=user.id, collection_name=name, track_id=track.id) is not None:
            raise _duplicate(name)
        reference = Reference(
            user_id=user.id,
            track_id=track.id,
            collection_name=name,
            notes=data.notes,
            tags=data.tags,
            is_favorite=data.is_favorite,
            sort_order=(
                data.sort_order
                if data.sort_order is not None
                else reference_repository.next_sort_order(session, user_id=user.id, collection_name=name)
            ),
        )
        try:
            with session.begin_nested():
                session.add(reference)
                session.flush()
        except IntegrityError as exc:
            # A concurrent request added the same track to the same collection first.
            raise _duplicate(name) from exc
        return reference, track

    def update(self, session: Session, *, user: User, reference_id: uuid.UUID, data: ReferenceUpdate) -> ReferenceRow:
        reference, track = self.get(session, user=user, reference_id=reference_id)
        changes = data.model_fields_set
        name = data.collection_name
        if name is not None and name != reference.collection_name:
            if reference_repository.find(session, user_id=user.id, collection_name=name, track_id=track.id):
                raise _duplicate(name)
            reference.collection_name = name
            if data.sort_order is None:
                reference.sort_order = reference_repository.next_sort_order(
                    session, user_id=user.id, collection_name=name
                )
        if "notes" in changes:
            reference.notes = data.notes
        if data.tags is not None:
            reference.tags = data.tags
        if data.is_favorite is not None:
            reference.is_favorite = data.is_favorite
        if data.sort_order is not None:
            reference.sort_order = data.sort_order
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError as exc:
            raise _duplicate(reference.collection_name) from exc
        return reference, track

    def delete(self, session: Session, *, user: User, reference_id: uuid.UUID) -> None:
        reference, _ = self.get(session, user=user, reference_id=reference_id)
        session.delete(reference)
        session.flush()

    def reorder(self, session: Session, *, user: User, data: ReorderRequest) -> None:
        """Give a collection the order of ``data.ids``, which must be exactly that collection's references."""
        references = reference_repository.in_collection(session, user_id=user.id, collection_name=data.collection_name)
        if not references:
            raise NotFound("collection not found")
        if len(set(data.ids)) != len(data.ids):
            raise InvalidInput("ids: a reference is listed more than once", field="ids")
        by_id = {r.id: r for r in references}
        unknown = [i for i in data.ids if i not in by_id]
        missing = [i for i in by_id if i not in set(data.ids)]
        if unknown or missing:
            raise InvalidInput(
                f"ids: must list each of the collection's {len(references)} references exactly once "
                f"({len(missing)} missing, {len(unknown)} not in the collection)",
                field="ids",
            )
        for position, reference_id in enumerate(data.ids):
            by_id[reference_id].sort_order = position
        session.flush()


reference = ReferenceService()

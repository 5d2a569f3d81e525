"""The user's reference collections (user_references)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from service.db import SessionDep
from service.errors import BadRequest, Conflict, InvalidInput, NotFound, Unauthorized, error_responses
from service.reference.repository import ReferenceRow
from service.reference.schemas import (
    CollectionList,
    CollectionName,
    CollectionRead,
    ReferenceCreate,
    ReferenceList,
    ReferenceRead,
    ReferenceTrackBrief,
    ReferenceUpdate,
    ReorderRequest,
)
from service.reference.service import reference as reference_service
from service.user.auth import CurrentUser

router = APIRouter(prefix="/v1/references", tags=["references"])


def _read(row: ReferenceRow) -> ReferenceRead:
    reference, track = row
    return ReferenceRead(
        id=reference.id,
        track_id=reference.track_id,
        collection_name=reference.collection_name,
        notes=reference.notes,
        tags=[str(tag) for tag in reference.tags],
        is_favorite=reference.is_favorite,
        sort_order=reference.sort_order,
        created_at=reference.created_at,
        updated_at=reference.updated_at,
        track=ReferenceTrackBrief.model_validate(track),
    )


@router.get("", response_model=ReferenceList, responses=error_responses(Unauthorized, InvalidInput))
def list_references(
    session: SessionDep,
    user: CurrentUser,
    collection_name: Annotated[
        CollectionName | None, Query(description="Only this collection (the `collection_name` of its references)")
    ] = None,
    collection: Annotated[
        CollectionName | None, Query(deprecated=True, description="The former name of `collection_name`")
    ] = None,
    favorite: Annotated[bool | None, Query(description="Only favourites (true) or only the others (false)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ReferenceList:
    """Your references, ordered by sort order, creation time and id."""
    if collection is not None and collection_name is not None and collection != collection_name:
        raise InvalidInput("collection: give collection_name only (collection is its former name)", field="collection")
    rows, count = reference_service.list_references(
        session,
        user=user,
        collection_name=collection_name if collection_name is not None else collection,
        is_favorite=favorite,
        limit=limit,
        offset=offset,
    )
    return ReferenceList(data=[_read(row) for row in rows], count=count)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ReferenceRead,
    responses=error_responses(BadRequest, Unauthorized, NotFound, Conflict),
)
def create_reference(body: ReferenceCreate, session: SessionDep, user: CurrentUser) -> ReferenceRead:
    """Add one of your tracks to a collection (409 if it is already there)."""
    return _read(reference_service.create(session, user=user, data=body))


@router.get("/collections", response_model=CollectionList, responses=error_responses(Unauthorized))
def list_collections(session: SessionDep, user: CurrentUser) -> CollectionList:
    """Your collections by name, with how many references (and favourites) each holds."""
    collections = [
        CollectionRead(name=name, count=count, favorite_count=favorites)
        for name, count, favorites in reference_service.collections(session, user=user)
    ]
    return CollectionList(data=collections, count=len(collections))


@router.post(
    "/reorder",
    response_model=ReferenceList,
    responses=error_responses(BadRequest, Unauthorized, NotFound, InvalidInput),
)
def reorder_references(body: ReorderRequest, session: SessionDep, user: CurrentUser) -> ReferenceList:
    """Set the order of a collection: send every one of its reference ids once, in the new order."""
    reference_service.reorder(session, user=user, data=body)
    rows, count = reference_service.list_references(
        session, user=user, collection_name=body.collection_name, limit=len(body.ids), offset=0
    )
    return ReferenceList(data=[_read(row) for row in rows], count=count)


@router.get("/{reference_id}", response_model=ReferenceRead, responses=error_responses(Unauthorized, NotFound))
def get_reference(reference_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> ReferenceRead:
    """One of your references."""
    return _read(reference_service.get(session, user=user, reference_id=reference_id))


@router.patch(
    "/{reference_id}",
    response_model=ReferenceRead,
    responses=error_responses(BadRequest, Unauthorized, NotFound, Conflict),
)
def update_reference(
    reference_id: uuid.UUID, body: ReferenceUpdate, session: SessionDep, user: CurrentUser
) -> ReferenceRead:
    """Change a reference's notes, tags, favourite flag, order or collection."""
    return _read(reference_service.update(session, user=user, reference_id=reference_id, data=body))


@router.delete(
    "/{reference_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(Unauthorized, NotFound)
)
def delete_reference(reference_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> Response:
    """Remove a reference from its collection (the track itself stays)."""
    reference_service.delete(session, user=user, reference_id=reference_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

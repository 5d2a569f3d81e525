"""Listening prompt templates (admin), presets and prompts instantiated for a track."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from service.db import SessionDep
from service.errors import BadRequest, Conflict, Forbidden, InvalidInput, NotFound, Unauthorized, error_responses
from service.listening_prompt.models import ListeningPromptPreset, ListeningPromptTemplate
from service.listening_prompt.schemas import (
    PresetCreate,
    PresetList,
    PresetRead,
    PresetUpdate,
    PromptList,
    TemplateCreate,
    TemplateList,
    TemplateRead,
    TemplateUpdate,
    VocabularyRead,
)
from service.listening_prompt.service import preset as preset_service
from service.listening_prompt.service import prompt as prompt_service
from service.listening_prompt.service import template as template_service
from service.user.auth import AdminUser, CurrentUser

router = APIRouter(tags=["listening prompts"])

_TEMPLATES = "/v1/listening-prompts/templates"
_PRESETS = "/v1/listening-prompts/presets"


@router.get(_TEMPLATES, response_model=TemplateList, responses=error_responses(Unauthorized, Forbidden))
def list_templates(
    session: SessionDep,
    user: CurrentUser,
    include_inactive: Annotated[bool, Query(description="Admins only: list inactive templates too")] = False,
) -> TemplateList:
    """The listening prompt templates, ordered by category, sort order and id."""
    if include_inactive and user.role != "admin":
        raise Forbidden("admin role required to list inactive templates")
    templates = template_service.list_templates(session, include_inactive=include_inactive)
    return TemplateList(data=[TemplateRead.model_validate(t) for t in templates], count=len(templates))


@router.post(
    _TEMPLATES,
    status_code=status.HTTP_201_CREATED,
    response_model=TemplateRead,
    responses=error_responses(BadRequest, Unauthorized, Forbidden, Conflict, InvalidInput),
)
def create_template(body: TemplateCreate, session: SessionDep, admin: AdminUser) -> ListeningPromptTemplate:
    """Add a template (admins). Its placeholders and placement rule must be ones the prompt engine binds."""
    return template_service.create(session, admin=admin, data=body)


@router.get(
    "/v1/listening-prompts/placeholders", response_model=VocabularyRead, responses=error_responses(Unauthorized)
)
def get_placeholders(user: CurrentUser) -> VocabularyRead:
    """The placement rules and placeholders template text may use."""
    return template_service.vocabulary()


@router.get(
    _TEMPLATES + "/{template_id}", response_model=TemplateRead, responses=error_responses(Unauthorized, NotFound)
)
def get_template(template_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> ListeningPromptTemplate:
    """One template; inactive templates are visible to admins only."""
    return template_service.get(session, template_id=template_id, include_inactive=user.role == "admin")


@router.patch(
    _TEMPLATES + "/{template_id}",
    response_model=TemplateRead,
    responses=error_responses(BadRequest, Unauthorized, Forbidden, NotFound, InvalidInput),
)
def update_template(
    template_id: uuid.UUID, body: TemplateUpdate, session: SessionDep, admin: AdminUser
) -> ListeningPromptTemplate:
    """Change a template (admins); fields left out stay as they are."""
    return template_service.update(session, admin=admin, template_id=template_id, data=body)


@router.delete(
    _TEMPLATES + "/{template_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(Unauthorized, Forbidden, NotFound),
)
def delete_template(template_id: uuid.UUID, session: SessionDep, admin: AdminUser) -> Response:
    """Delete a template (admins). Presets that list it skip it from then on."""
    template_service.delete(session, admin=admin, template_id=template_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(_PRESETS, response_model=PresetList, responses=error_responses(Unauthorized))
def list_presets(session: SessionDep, user: CurrentUser) -> PresetList:
    """Your presets, ordered by sort order, creation time and id."""
    presets = preset_service.list_presets(session, user=user)
    return PresetList(data=[PresetRead.model_validate(p) for p in presets], count=len(presets))


@router.post(
    _PRESETS,
    status_code=status.HTTP_201_CREATED,
    response_model=PresetRead,
    responses=error_responses(BadRequest, Unauthorized, InvalidInput),
)
def create_preset(body: PresetCreate, session: SessionDep, user: CurrentUser) -> ListeningPromptPreset:
    """Save a preset; making it the default clears your other default."""
    return preset_service.create(session, user=user, data=body)


@router.get(_PRESETS + "/{preset_id}", response_model=PresetRead, responses=error_responses(Unauthorized, NotFound))
def get_preset(preset_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> ListeningPromptPreset:
    """One of your presets."""
    return preset_service.get(session, user=user, preset_id=preset_id)


@router.patch(
    _PRESETS + "/{preset_id}",
    response_model=PresetRead,
    responses=error_responses(BadRequest, Unauthorized, NotFound, InvalidInput),
)
def update_preset(
    preset_id: uuid.UUID, body: PresetUpdate, session: SessionDep, user: CurrentUser
) -> ListeningPromptPreset:
    """Change one of your presets; fields left out stay as they are."""
    return preset_service.update(session, user=user, preset_id=preset_id, data=body)


@router.delete(
    _PRESETS + "/{preset_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(Unauthorized, NotFound),
)
def delete_preset(preset_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> Response:
    """Delete one of your presets."""
    preset_service.delete(session, user=user, preset_id=preset_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/tracks/{track_id}/prompts",
    response_model=PromptList,
    responses=error_responses(Unauthorized, NotFound, InvalidInput),
)
def get_track_prompts(
    track_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    preset: Annotated[
        uuid.UUID | None, Query(description="One of your presets; without it, your default preset if you have one")
    ] = None,
    category: Annotated[str | None, Query(max_length=64, description="Only prompts of this category")] = None,
) -> PromptList:
    """Listening prompts for a track, placed and filled in from its latest succeeded analysis."""
    return prompt_service.for_track(session, user=user, track_id=track_id, preset_id=preset, category=category)

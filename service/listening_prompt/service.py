from __future__ import annotations

import math
import uuid
from collections.abc import Container, Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.analysis_run.models import AnalysisRun
from service.analysis_run.service import analysis_run as analysis_run_service
from service.audit.service import audit as audit_service
from service.errors import Conflict, InvalidInput, NotFound
from service.listening_prompt import engine
from service.listening_prompt.models import ListeningPromptPreset, ListeningPromptTemplate
from service.listening_prompt.repository import preset_repository, prompt_data_repository, template_repository
from service.listening_prompt.schemas import (
    PlaceholderRead,
    PlacementRuleRead,
    PresetConfiguration,
    PresetCreate,
    PresetUpdate,
    PromptList,
    PromptLoop,
    PromptRead,
    PromptValueRead,
    SkippedPromptRead,
    TemplateCreate,
    TemplateUpdate,
    VocabularyRead,
)
from service.track.repository import track_repository
from service.user.models import User


def _check_template(prompt_text: str, placement_rule: str | None) -> None:
    try:
        engine.validate_template(prompt_text, placement_rule)
    except engine.TemplateError as exc:
        raise InvalidInput(exc.message, field=exc.field) from exc


def _refuse_unknown(names: Sequence[str], *, known: Container[str], field: str, nouns: tuple[str, str]) -> None:
    """Name every one of ``names`` that is not ``known``; ``nouns`` is the singular and plural of what they are."""
    unknown = [name for name in names if name not in known]
    if unknown:
        noun = nouns[1] if len(unknown) > 1 else nouns[0]
        raise InvalidInput(f"{field}: unknown {noun} " + ", ".join(repr(name) for name in unknown), field=field)


class TemplateService:
    def list_templates(self, session: Session, *, include_inactive: bool) -> list[ListeningPromptTemplate]:
        """The templates by category, sort order and id; the inactive ones too when asked (admins)."""
        return template_repository.list(session, include_inactive=include_inactive)

    def get(self, session: Session, *, template_id: uuid.UUID, include_inactive: bool) -> ListeningPromptTemplate:
        template = template_repository.get(session, template_id=template_id, include_inactive=include_inactive)
        if template is None:
            raise NotFound("template not found")
        return template

    def create(self, session: Session, *, admin: User, data: TemplateCreate) -> ListeningPromptTemplate:
        _check_template(data.prompt_text, data.placement_rule)
        if template_repository.get_by_key(session, key=data.key) is not None:
            raise Conflict(f"a template with key {data.key!r} already exists", field="key")
        template = ListeningPromptTemplate(**data.model_dump())
        try:
            with session.begin_nested():
                session.add(template)
                session.flush()
        except IntegrityError as exc:
            raise Conflict(f"a template with key {data.key!r} already exists", field="key") from exc
        self._audit(session, admin=admin, action="listening_prompt_template.created", template=template)
        return template

    def update(
        self, session: Session, *, admin: User, template_id: uuid.UUID, data: TemplateUpdate
    ) -> ListeningPromptTemplate:
        template = self.get(session, template_id=template_id, include_inactive=True)
        changes = data.model_dump(exclude_unset=True)
        if "prompt_text" in changes or "placement_rule" in changes:
            _check_template(
                changes.get("prompt_text", template.prompt_text),
                changes.get("placement_rule", template.placement_rule),
            )
        for name, value in changes.items():
            setattr(template, name, value)
        session.flush()
        self._audit(
            session, admin=admin, action="listening_prompt_template.updated", template=template, fields=sorted(changes)
        )
        return template

    def delete(self, session: Session, *, admin: User, template_id: uuid.UUID) -> None:
        template = self.get(session, template_id=template_id, include_inactive=True)
        self._audit(session, admin=admin, action="listening_prompt_template.deleted", template=template)
        session.delete(template)
        session.flush()

    def vocabulary(self) -> VocabularyRead:
        """The rules and placeholders a template may use, as the engine defines them."""
        return VocabularyRead(
            placement_rules=[
                PlacementRuleRead(name=rule.name, description=rule.description, stereo=rule.stereo)
                for rule in engine.PLACEMENT_RULES.values()
            ],
            placeholders=[
                PlaceholderRead(
                    name=item.name,
                    description=item.description,
                    unit=item.unit,
                    stereo=item.stereo,
                    placement_rules=sorted(item.rules) if item.rules is not None else None,
                )
                for item in engine.PLACEHOLDERS.values()
            ],
        )

    def _audit(
        self,
        session: Session,
        *,
        admin: User,
        action: str,
        template: ListeningPromptTemplate,
        fields: list[str] | None = None,
    ) -> None:
        details: dict[str, Any] = {"key": template.key}
        if fields is not None:
            details["fields"] = fields
        audit_service.record(
            session,
            user_id=admin.id,
            action=action,
            target_type="listening_prompt_template",
            target_id=str(template.id),
            details=details,
        )


class PresetService:
    def list_presets(self, session: Session, *, user: User) -> list[ListeningPromptPreset]:
        """The user's presets by sort order, creation time and id."""
        return preset_repository.list(session, user_id=user.id)

    def get(self, session: Session, *, user: User, preset_id: uuid.UUID) -> ListeningPromptPreset:
        preset = preset_repository.get(session, user_id=user.id, preset_id=preset_id)
        if preset is None:
            raise NotFound("preset not found")
        return preset

    def create(self, session: Session, *, user: User, data: PresetCreate) -> ListeningPromptPreset:
        configuration = self._validated(session, user=user, configuration=data.configuration)
        if data.is_default:
            preset_repository.lock_owner(session, user_id=user.id)
        preset = ListeningPromptPreset(
            user_id=user.id,
            name=data.name,
            configuration=configuration,
            is_default=data.is_default,
            sort_order=(
                data.sort_order
                if data.sort_order is not None
                else preset_repository.next_sort_order(session, user_id=user.id)
            ),
        )
        session.add(preset)
        session.flush()
        if data.is_default:
            preset_repository.clear_defaults(session, user_id=user.id, keep_id=preset.id)
        return preset

    def update(
        self, session: Session, *, user: User, preset_id: uuid.UUID, data: PresetUpdate
    ) -> ListeningPromptPreset:
        preset = self.get(session, user=user, preset_id=preset_id)
        changes = data.model_fields_set
        if "configuration" in changes and data.configuration is not None:
            preset.configuration = self._validated(session, user=user, configuration=data.configuration)
        if "name" in changes and data.name is not None:
            preset.name = data.name
        if "sort_order" in changes and data.sort_order is not None:
            preset.sort_order = data.sort_order
        if "is_default" in changes and data.is_default is not None:
            if data.is_default:
                preset_repository.lock_owner(session, user_id=user.id)
                preset_repository.clear_defaults(session, user_id=user.id, keep_id=preset.id)
            preset.is_default = data.is_default
        session.flush()
        return preset

    def delete(self, session: Session, *, user: User, preset_id: uuid.UUID) -> None:
        session.delete(self.get(session, user=user, preset_id=preset_id))
        session.flush()

    def _validated(self, session: Session, *, user: User, configuration: PresetConfiguration) -> dict[str, Any]:
        """Check the configuration against the templates and the user's regions; return it as stored."""
        if configuration.templates is not None:
            _refuse_unknown(
                configuration.templates,
                known=template_repository.active_keys(session, keys=configuration.templates),
                field="configuration.templates",
                nouns=("template key", "template keys"),
            )
        if configuration.categories is not None:
            _refuse_unknown(
                configuration.categories,
                known=template_repository.active_categories(session),
                field="configuration.categories",
                nouns=("category", "categories"),
            )
        if configuration.region_id is not None and not prompt_data_repository.region_exists(
            session, region_id=configuration.region_id, user_id=user.id
        ):
            raise InvalidInput("configuration.region_id: region not found", field="configuration.region_id")
        return configuration.model_dump(mode="json", exclude_none=True)


_TIMELINE_EVENTS = ("section", "downbeat")


class PromptService:
    def for_track(
        self,
        session: Session,
        *,
        user: User,
        track_id: uuid.UUID,
        preset_id: uuid.UUID | None = None,
        category: str | None = None,
    ) -> PromptList:
        """Prompts for a track from its latest succeeded analysis: the preset's (else the default preset's) choice.

        Templates are rendered in the preset's order when it lists them, else by category, sort order and id.
        """
        track = track_repository.get_or_404(session, user_id=user.id, track_id=track_id)
        if preset_id is not None:
            selected: ListeningPromptPreset | None = preset.get(session, user=user, preset_id=preset_id)
        else:
            selected = preset_repository.get_default(session, user_id=user.id)
        configuration = PresetConfiguration.model_validate(selected.configuration if selected is not None else {})
        active = template_repository.list(session)
        if category is not None and category not in {t.category for t in active}:
            raise InvalidInput(f"category: unknown category {category!r}", field="category")
        run = analysis_run_service.latest_succeeded(session, track_id=track.id, user_id=user.id)
        if run is None or run.results is None:
            raise NotFound("track has no finished analysis yet: prompts need a succeeded analysis")

        chosen, missing = self._choose(active, configuration=configuration, category=category)
        specs = [
            engine.TemplateSpec(
                key=t.key, category=t.category, name=t.name, prompt_text=t.prompt_text, placement_rule=t.placement_rule
            )
            for t in chosen
        ]
        data = self._analysis_input(session, user=user, track_id=track.id, run=run, summary=run.results, specs=specs)
        region_id = str(configuration.region_id) if configuration.region_id is not None else None
        rendered = engine.render(specs, data, region_id=region_id)
        prompts = list(rendered.prompts)
        if configuration.max_prompts is not None:
            prompts = prompts[: configuration.max_prompts]
        ids = {t.key: t.id for t in chosen}
        return PromptList(
            track_id=track.id,
            analysis_id=run.id,
            preset_id=selected.id if selected is not None else None,
            data=[self._read(p, template_id=ids[p.template_key]) for p in prompts],
            count=len(prompts),
            skipped=[
                *missing,
                *(
                    SkippedPromptRead(template_key=s.template_key, category=s.category, reason=s.reason)
                    for s in rendered.skipped
                ),
            ],
        )

    def _choose(
        self, active: list[ListeningPromptTemplate], *, configuration: PresetConfiguration, category: str | None
    ) -> tuple[list[ListeningPromptTemplate], list[SkippedPromptRead]]:
        missing: list[SkippedPromptRead] = []
        if configuration.templates is not None:
            by_key = {t.key: t for t in active}
            chosen = []
            for key in configuration.templates:
                if key in by_key:
                    chosen.append(by_key[key])
                else:
                    missing.append(
                        SkippedPromptRead(template_key=key, category="", reason="the template is no longer available")
                    )
        else:
            chosen = list(active)
        if configuration.categories is not None:
            allowed = set(configuration.categories)
            chosen = [t for t in chosen if t.category in allowed]
        if category is not None:
            chosen = [t for t in chosen if t.category == category]
            missing = []
        return chosen, missing

    def _analysis_input(
        self,
        session: Session,
        *,
        user: User,
        track_id: uuid.UUID,
        run: AnalysisRun,
        summary: dict[str, Any],
        specs: list[engine.TemplateSpec],
    ) -> engine.AnalysisInput:
        events = analysis_run_service.events(session, run=run, types=_TIMELINE_EVENTS)
        sections = tuple(
            engine.Section(
                start_s=e.time_seconds,
                duration_s=e.duration_seconds or 0.0,
                label=e.label,
                role=_text((e.payload or {}).get("role")),
                loudness_lufs=_finite((e.payload or {}).get("loudness_lufs")),
            )
            for e in events
            if e.event_type == "section"
        )
        downbeats = tuple(e.time_seconds for e in events if e.event_type == "downbeat")
        series = {
            s.feature: engine.Series(hop_s=s.hop_s, values=s.values)
            for s in analysis_run_service.feature_series(session, run=run, features=engine.series_needed(specs))
        }
        regions = tuple(
            engine.Region(id=str(r.id), name=r.name, start_s=r.start_time_seconds, end_s=r.end_time_seconds)
            for r in prompt_data_repository.regions(session, track_id=track_id, user_id=user.id)
        )
        return engine.AnalysisInput(
            summary=summary, sections=sections, downbeats_s=downbeats, series=series, regions=regions
        )

    def _read(self, prompt: engine.Prompt, *, template_id: uuid.UUID) -> PromptRead:
        return PromptRead(
            template_id=template_id,
            template_key=prompt.template_key,
            category=prompt.category,
            name=prompt.name,
            text=prompt.text,
            at_seconds=prompt.at_s,
            loop=PromptLoop(start=prompt.loop_start_s, end=prompt.loop_end_s),
            placement_rule=prompt.placement_rule,
            placement=prompt.placement,
            values={v.name: PromptValueRead(value=v.value, text=v.text, unit=v.unit) for v in prompt.values},
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _finite(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


template = TemplateService()
preset = PresetService()
prompt = PromptService()

"""A template's text: its placeholders, their validation and their substitution."""

from __future__ import annotations

import string
from collections.abc import Mapping

from service.listening_prompt.engine.base import TemplateError
from service.listening_prompt.engine.placeholders import PLACEHOLDERS
from service.listening_prompt.engine.rules import PLACEMENT_RULES


def placeholders_in(text: str) -> tuple[str, ...]:
    """The placeholder names of ``text`` in order of first use; ``{{`` and ``}}`` are literal braces.

    Raises
    ------
    TemplateError
        For unbalanced braces, empty or positional fields, attribute or index access, conversions and format specs.
    """
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        message = f"prompt_text: {exc} (write {{{{ and }}}} for literal braces)"
        raise TemplateError(message, field="prompt_text") from exc
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier():
            raise TemplateError(
                f"prompt_text: {{{name}}} is not a placeholder name (letters, digits and underscores)",
                field="prompt_text",
            )
        if spec or conversion:
            raise TemplateError(
                f"prompt_text: {{{name}}} takes no format specification; values are formatted by the engine",
                field="prompt_text",
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def validate_template(prompt_text: str, placement_rule: str | None) -> tuple[str, ...]:
    """Check that the engine can render a template; return its placeholders.

    Raises
    ------
    TemplateError
        Naming ``placement_rule`` for an unknown rule, or ``prompt_text`` for malformed text, unknown placeholders
        or placeholders that the rule cannot bind.
    """
    rule = placement_rule or "whole_track"
    if rule not in PLACEMENT_RULES:
        raise TemplateError(
            f"placement_rule: unknown rule {rule!r}; known rules: {', '.join(sorted(PLACEMENT_RULES))}",
            field="placement_rule",
        )
    names = placeholders_in(prompt_text)
    unknown = [name for name in names if name not in PLACEHOLDERS]
    if unknown:
        raise TemplateError(
            "prompt_text: unknown placeholder"
            + ("s " if len(unknown) > 1 else " ")
            + ", ".join(f"{{{name}}}" for name in unknown)
            + "; see GET /v1/listening-prompts/placeholders",
            field="prompt_text",
        )
    for name in names:
        rules = PLACEHOLDERS[name].rules
        if rules is not None and rule not in rules:
            raise TemplateError(
                f"prompt_text: {{{name}}} needs placement_rule {' or '.join(sorted(rules))}, not {rule!r}",
                field="prompt_text",
            )
    return names


def _substitute(text: str, values: Mapping[str, str]) -> str:
    parts: list[str] = []
    for literal, name, _spec, _conversion in string.Formatter().parse(text):
        parts.append(literal)
        if name is not None:
            parts.append(values[name])
    return "".join(parts)

"""The OpenAPI document is complete enough to write a client against it alone.

Every component schema carries an example; every example in the document (of a schema, of a property, of a
request or response body) is valid against its schema, resolved against the document's components as JSON
Schema 2020-12 (what OpenAPI 3.1 uses), and against the pydantic model it documents; every operation has a
description and documents its errors with the one error shape the API returns.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from service.analysis_run.models import AnalysisStatus
from service.app import create_app
from service.library_import.models import ImportStatus

DOCUMENT: dict[str, Any] = create_app().openapi()
COMPONENTS: dict[str, Any] = DOCUMENT["components"]["schemas"]
_URI = "urn:reftrack:openapi"
_REGISTRY: Registry[Any] = Registry().with_resource(_URI, DRAFT202012.create_resource(DOCUMENT))
_ERROR_REF = "#/components/schemas/ErrorRead"
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_SCHEMA_MODULES = (
    "service.schemas",
    "service.analysis_run.schemas",
    "service.annotation.schemas",
    "service.library.schemas",
    "service.library_import.schemas",
    "service.listening_prompt.schemas",
    "service.reference.schemas",
    "service.track.schemas",
    "service.user.schemas",
)


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _examples(node: Any, pointer: str = "") -> Iterator[tuple[str, str, Any]]:
    """``(where, pointer to the schema, example)`` for every example in the document.

    A JSON schema lists its examples under ``examples``; an OpenAPI media type object sits next to its ``schema``
    with one ``example`` or named ``examples`` (each with a ``value``).
    """
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _examples(item, f"{pointer}/{index}")
        return
    if not isinstance(node, dict):
        return
    examples = node.get("examples")
    if isinstance(examples, list):
        for index, example in enumerate(examples):
            yield f"{pointer}/examples/{index}", pointer, example
    if "schema" in node:
        if "example" in node:
            yield f"{pointer}/example", f"{pointer}/schema", node["example"]
        if isinstance(examples, dict):
            for name, example in examples.items():
                if "value" in example:
                    yield f"{pointer}/examples/{name}", f"{pointer}/schema", example["value"]
    for key, value in node.items():
        if key not in ("example", "examples"):
            yield from _examples(value, f"{pointer}/{_escape(key)}")


EXAMPLES = list(_examples(DOCUMENT))
OPERATIONS = [
    (f"{method.upper()} {path}", operation)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    if method in _METHODS
]


def _models() -> dict[str, type[BaseModel]]:
    """The pydantic models of the schema modules, by class name (the component name FastAPI gives them)."""
    found: dict[str, type[BaseModel]] = {}
    for module_name in _SCHEMA_MODULES:
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == module_name:
                found[value.__name__] = value
    return found


MODELS = _models()


def _component_of(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref.startswith("#/components/schemas/") else None


def test_the_document_has_examples_and_operations_to_check() -> None:
    # then: the walk found the examples and operations (a change of layout must not empty the tests below)
    assert len(COMPONENTS) >= 50
    assert len(EXAMPLES) >= len(COMPONENTS)
    assert len(OPERATIONS) >= 50


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_every_component_schema_has_an_example(name: str) -> None:
    # given
    schema = COMPONENTS[name]
    # then
    assert schema.get("examples"), f"{name} has no example"


@pytest.mark.parametrize(("where", "pointer", "example"), EXAMPLES, ids=[where for where, _, _ in EXAMPLES])
def test_every_example_is_valid_against_its_schema(where: str, pointer: str, example: Any) -> None:
    # given: the schema by its place in the document, so its $refs resolve against the document's components
    validator = Draft202012Validator(
        {"$ref": f"{_URI}#{quote(pointer, safe='/~')}"},
        registry=_REGISTRY,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    # when
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(example)]
    # then
    assert not errors, "\n".join(errors)


def test_every_component_schema_is_a_model_of_the_schema_modules() -> None:
    # then: each one can be checked by its own model below
    assert sorted(set(COMPONENTS) - set(MODELS)) == []


@pytest.mark.parametrize(("where", "pointer", "example"), EXAMPLES, ids=[where for where, _, _ in EXAMPLES])
def test_every_example_of_a_model_passes_the_models_validation(where: str, pointer: str, example: Any) -> None:
    # given: the model the example documents, a component itself or the schema of a body
    parts = pointer.split("/")
    if parts[1:3] == ["components", "schemas"] and len(parts) == 4:
        name: str | None = parts[3]
    elif parts[-1] == "schema":
        node: Any = DOCUMENT
        for part in parts[1:]:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        name = _component_of(node)
    else:
        name = None
    if name is None:
        pytest.skip("not the example of a whole model")
    # when / then: raises if the model refuses what the document shows
    MODELS[name].model_validate(example)


@pytest.mark.parametrize(("operation", "spec"), OPERATIONS, ids=[name for name, _ in OPERATIONS])
def test_every_operation_is_described(operation: str, spec: dict[str, Any]) -> None:
    # then
    assert spec.get("description", "").strip(), f"{operation} has no description"


@pytest.mark.parametrize(("operation", "spec"), OPERATIONS, ids=[name for name, _ in OPERATIONS])
def test_every_operation_documents_its_errors_with_the_error_shape(operation: str, spec: dict[str, Any]) -> None:
    # given
    if operation == "GET /healthz":
        pytest.skip("the health check answers with its own shape, and needs no credentials or input")
    responses = spec["responses"]

    def shape(code: str) -> str | None:
        schema = responses[code].get("content", {}).get("application/json", {}).get("schema", {})
        return str(schema.get("$ref")) if "$ref" in schema else None

    errors = [code for code in responses if code[0] in "45"]
    # then: at least one 4xx, and every error documented is an ErrorRead
    assert any(code.startswith("4") for code in errors), f"{operation} documents no 4xx response"
    assert {code: shape(code) for code in errors} == dict.fromkeys(errors, _ERROR_REF)


def test_the_health_check_documents_both_answers() -> None:
    # given
    responses = DOCUMENT["paths"]["/healthz"]["get"]["responses"]
    # then
    for code, status in (("200", "ok"), ("503", "degraded")):
        content = responses[code]["content"]["application/json"]
        assert content["schema"] == {"$ref": "#/components/schemas/HealthRead"}
        assert content["example"]["status"] == status


def test_examples_keep_their_nulls() -> None:
    # given: a required nullable field, null in the example (FastAPI drops nulls when it renders the document)
    queued = next(e for e in COMPONENTS["AnalysisRead"]["examples"] if e["status"] == "queued")
    # then
    assert queued["results"] is None
    assert "results" in COMPONENTS["AnalysisRead"]["required"]


@pytest.mark.parametrize(
    ("component", "values"),
    [
        ("AnalysisRead", [s.value for s in AnalysisStatus]),
        ("ImportRead", [s.value for s in ImportStatus]),
    ],
)
def test_documented_statuses_are_the_enums_values(component: str, values: list[str]) -> None:
    # given: the response schemas spell the statuses out, so the document lists them inline
    documented = COMPONENTS[component]["properties"]["status"]
    # then
    assert documented == {"enum": values, "title": "Status", "type": "string"}

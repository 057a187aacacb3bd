"""Schemathesis over the JSON API (`/api/…`), on SQLite and PostgreSQL: never a 5xx.

Random cases alone miss the parser crashes (security notes): every query and path parameter
is first seeded with the attack cases of `tests/data/attack-cases/`, then schemathesis
generates valid and invalid cases from the OpenAPI document. Bounded to run in well under a
minute per database.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.conftest import attack_cases
from tests.web.test_hostile_inputs import hostile_app  # noqa: F401  (the module's app per database)

MAX_EXAMPLES = 15  # per operation and generation mode


def attack_strings() -> list[str]:
    """The short attack queries and the upload file names, as plain strings."""
    lines: list[str] = []
    for name in ("search-queries.jsonl", "upload-filenames.jsonl"):
        text = attack_cases(name).read_text("utf-8")
        lines += [json.loads(line) for line in text.splitlines() if line.strip()]
    return [line for line in lines if isinstance(line, str)]


def api_operations(app: FastAPI) -> list[Any]:
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = app
    operations = [result.ok() for result in schema.get_all_operations()]
    selected = [op for op in operations if op.path.startswith("/api/")]
    assert selected, "no /api/ operation in the OpenAPI document"
    return selected


def assert_no_server_error(response: Any, what: object) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[:300])
    if response.status_code >= 400 and "json" in response.headers.get("content-type", ""):
        assert isinstance(response.json().get("detail"), str), (what, response.text[:300])


def test_api_seeded_with_attack_cases(hostile_app: FastAPI) -> None:  # noqa: F811
    """Each attack string in each query and path parameter of each API operation."""
    strings = attack_strings()
    for operation in api_operations(hostile_app):
        for parameter in operation.query:
            for text in strings:
                case = operation.Case(query={parameter.name: text})
                assert_no_server_error(case.call(), (operation.path, parameter.name, text))
        for parameter in operation.path_parameters:
            for text in strings:
                if not text.strip(".") or "/" in text:
                    continue  # another route: checked by the path tests of test_hostile_inputs
                case = operation.Case(path_parameters={parameter.name: text})
                assert_no_server_error(case.call(), (operation.path, parameter.name, text))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_generated_cases(hostile_app: FastAPI, mode: GenerationMode) -> None:  # noqa: F811
    """Schemathesis' own cases from the OpenAPI document, valid and invalid; the answers to
    valid ones must conform to the document."""
    operations = api_operations(hostile_app)
    strategy = st.one_of(*(op.as_strategy(generation_mode=mode) for op in operations))

    @settings(
        max_examples=MAX_EXAMPLES * len(operations),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        response = case.call()
        assert_no_server_error(response, (case.method, case.formatted_path, case.query))
        if mode == GenerationMode.POSITIVE:
            # Valid requests get answers the document describes: a documented status, and a
            # body of the documented schema (integers where it says integer, and so on).
            case.validate_response(response)

    run()

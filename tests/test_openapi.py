"""The OpenAPI document against the real server: schemathesis generates requests from the
document for every operation, valid ones and ones that break it, sends them to a ``flokit
serve`` process with a valid key, and checks that every answer is documented (status, media
type, headers, body schema) and none is a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from flokit.api.routes import ENDPOINTS
from flokit.openapi import build_document
from flokit.settings import Settings

from server import Server, cli

#: Generated requests per operation, valid and invalid: enough to reach each documented
#: answer of most operations, few enough that the whole test stays under a minute.
EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 6}
#: Headers of HTTP itself, which the document need not name.
TRANSPORT_HEADERS = {
    "content-type",
    "content-length",
    "content-disposition",
    "date",
    "server",
    "connection",
    "transfer-encoding",
    "etag",
    "last-modified",
}


@schemathesis.check
def headers_are_documented(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every header the server sends (but HTTP's own) is documented for that status: the
    standard checks only validate the headers the document names."""
    replies = case.operation.definition.raw["responses"]
    documented = replies.get(str(response.status_code), {}).get("headers", {})
    sent = {name.lower() for name in response.headers} - TRANSPORT_HEADERS
    missing = sorted(sent - {name.lower() for name in documented})
    if missing:
        raise AssertionError(f"{response.status_code} sent undocumented headers {missing}")
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    headers_are_documented,
]


def test_the_document_is_valid_openapi_3_1() -> None:
    """Valid against the OpenAPI 3.1 schema, operation ids unique included (as JSON: the
    validator wants JSON types, not the enums and tuples the builder holds)."""
    document = msgspec.json.decode(msgspec.json.encode(build_document(ENDPOINTS, Settings())))
    validate(document)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    db = tmp_path_factory.mktemp("openapi") / "flokit.db"
    workspace: dict[str, Any] = cli(db, "workspaces", "create", "schemathesis")
    server = Server(db, log=Path(db).with_suffix(".log"))
    yield server, workspace["api_key"]
    server.stop()


def test_every_answer_of_the_real_server_is_documented(served: tuple[Server, str]) -> None:
    server, key = served
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        for mode, examples in EXAMPLES.items():
            _fuzz(operation, mode, examples, {"Authorization": f"Bearer {key}"})


def _fuzz(operation: Any, mode: GenerationMode, examples: int, auth: dict[str, str]) -> None:
    @hypothesis.given(case=operation.as_strategy(mode))
    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def conforms(case: Any) -> None:
        case.call_and_validate(headers=auth, checks=CHECKS)

    conforms()

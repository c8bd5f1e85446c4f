"""The enums that replaced bare strings keep the wire values of the contract, and the OpenAPI
document lists exactly those values."""

from __future__ import annotations

from flokit.api.routes import ENDPOINTS
from flokit.model import EventOutcome, ImportPhase, ImportStatus, RejectionCode
from flokit.openapi import build_document
from flokit.settings import Settings

WIRE = {
    RejectionCode: [
        "not_an_object",
        "too_large",
        "missing_field",
        "invalid_field",
        "unknown_field",
        "invalid_row",
    ],
    EventOutcome: ["accepted", "duplicate", "rejected"],
    ImportStatus: ["queued", "running", "completed", "failed"],
    ImportPhase: ["validate", "store", "done"],
}


def test_enums_keep_the_wire_values() -> None:
    for enum, values in WIRE.items():
        assert [member.value for member in enum] == values
        assert all(member == value for member, value in zip(enum, values, strict=True))
    assert [s for s in ImportStatus if s.ended] == [ImportStatus.COMPLETED, ImportStatus.FAILED]


def test_the_document_lists_every_value() -> None:
    schemas = build_document(ENDPOINTS, Settings())["components"]["schemas"]
    for enum in (RejectionCode, ImportStatus, ImportPhase):
        assert sorted(schemas[enum.__name__]["enum"]) == sorted(WIRE[enum])

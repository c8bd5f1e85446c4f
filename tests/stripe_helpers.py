"""Stripe test payloads: the fixtures (Stripe's own field names, both API shapes) and a
dict-backed Memory for the pure mapper's tests."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from flokit.integrations.outcome import Mapped
from flokit.integrations.registry import IntegrationSettings, MapContext
from flokit.integrations.stripe import map_stripe

FIXTURES = Path(__file__).parent / "fixtures" / "integrations" / "stripe"
#: Fixtures that exist in the shape before 2025-03-31 and from it.
SHAPES = ("2024", "basil")


@cache
def _read(name: str) -> str:
    return (FIXTURES / name).read_text()


def load(name: str) -> dict[str, Any]:
    """A fresh copy of fixture ``name`` (tests change them freely)."""
    doc: dict[str, Any] = json.loads(_read(name))
    return doc


def edit(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of ``doc`` with ``changes`` set at ``__``-separated paths
    (``data__object__currency``)."""
    out = copy.deepcopy(doc)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = out
        for key in parents:
            node = node[int(key)] if type(node) is list else node[key]
        node[last] = value
    return out


class DictMemory:
    """The Memory protocol over a dict: what the store keeps per integration."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def put(self, key: str, value: str) -> None:
        self.values[key] = value


def context(keep_sandbox: bool = False, memory: DictMemory | None = None) -> MapContext:
    """The receiver's context for a delivery: its integration's choice and memory."""
    return MapContext(keep_sandbox, memory or DictMemory(), 0.0, IntegrationSettings())


def one(payload: Any, ctx: MapContext | None = None) -> Mapped:
    """The single outcome of one delivery (Stripe events map to at most one event)."""
    out = map_stripe(payload, ctx or context())
    assert len(out) == 1, out
    return out[0]

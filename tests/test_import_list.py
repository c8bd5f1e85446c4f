"""``GET /v1/imports``: newest first, a page at a time, one workspace's own."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from imports_helpers import csv_rows, wait_done

from conftest import Api

ROW = "paywall_viewed,2024-03-15T14:20:00Z,u{n},,,,pw1,,,,"


def dry_run(api: Api, n: int) -> str:
    """A small dry-run import, waited for; its id."""
    body, headers = csv_rows(ROW.format(n=n)), {**api.headers(), "Content-Type": "text/csv"}
    created = api.client.post("/v1/imports?dry_run=true", content=body, headers=headers)
    assert created.status_code == 202, created.text
    get = lambda path: api.client.get(path, headers=api.headers())  # noqa: E731
    return str(wait_done(get, created.json()["import_id"])["import_id"])


def pages(api: Api, limit: int) -> list[list[str]]:
    """Every page of the list, following next_cursor (bounded)."""
    out: list[list[str]] = []
    query: dict[str, Any] = {"limit": limit}
    for _ in range(50):
        page = api.client.get("/v1/imports", params=query, headers=api.headers(api.ro))
        assert page.status_code == 200, page.text
        out.append([i["import_id"] for i in page.json()["imports"]])
        if page.json()["next_cursor"] is None:
            return out
        query["cursor"] = page.json()["next_cursor"]
    raise AssertionError("the cursor never ran out")


def test_list_and_workspace_isolation(api: Api) -> None:
    first, second = dry_run(api, 1), dry_run(api, 2)
    listed = api.client.get("/v1/imports", headers=api.headers(api.ro)).json()
    assert [i["import_id"] for i in listed["imports"]] == [second, first]
    assert listed["next_cursor"] is None
    _, other = api.store.create_workspace("other")
    hidden = api.client.get(f"/v1/imports/{first}", headers=api.headers(other.secret))
    assert hidden.status_code == 404
    assert api.client.get("/v1/imports", headers=api.headers(other.secret)).json()["imports"] == []


def test_pages_give_every_import_once_newest_first(api: Api) -> None:
    made = [dry_run(api, n) for n in range(5)]
    assert pages(api, 2) == [made[:2:-1], made[2:0:-1], made[:1]]
    assert pages(api, 5) == [made[::-1]]


def test_imports_created_in_the_same_microsecond_page_by_id(api: Api) -> None:
    real = dry_run(api, 0)
    workspace = api.store.find_workspace(api.workspace_id)
    assert workspace is not None
    template = asyncio.run(api.store.get_import(workspace.id, real))
    assert template is not None
    ids = [f"imp_tie{n}" for n in range(5)]
    for import_id in ids:  # older than the real one, all in one microsecond
        tied = replace(template, id=import_id, created_us=1_700_000_000_000_000)
        asyncio.run(api.store.create_import(tied))
    assert [i for page in pages(api, 2) for i in page] == [real, *ids[::-1]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("cursor=abc", "cursor"),
        ("cursor=czE", "cursor"),  # an events cursor
        ("page=2", "page"),
    ],
)
def test_bad_paging_parameters_are_400(api: Api, query: str, field: str) -> None:
    response = api.client.get(f"/v1/imports?{query}", headers=api.headers())
    assert response.status_code == 400, response.text
    assert (response.json()["error"], response.json()["field"]) == ("invalid_request", field)

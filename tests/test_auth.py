"""Keys and workspaces (reference: Authentication; contract §8)."""

from __future__ import annotations

import pytest

from conftest import Api, dump_database, event

UNAUTHORIZED = {"error": "unauthorized", "message": "Invalid or missing API key"}
FORBIDDEN = {"error": "forbidden", "message": "This operation requires a read-write key"}


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic Zm9vOmJhcg==", "Bearer fk_rw_notakey", "fk_rw_x"],
    ids=["absent", "empty", "scheme only", "blank token", "basic", "unknown key", "no scheme"],
)
@pytest.mark.parametrize("path", ["/v1/batch/events", "/v1/events"])
def test_missing_or_invalid_key_is_401(api: Api, authorization: str | None, path: str) -> None:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = api.client.post(path, json={"events": [event()]}, headers=headers)
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


@pytest.mark.parametrize("path", ["/v1/batch/events", "/v1/events"])
def test_read_only_key_cannot_send(api: Api, path: str) -> None:
    response = api.client.post(path, json={"events": [event()]}, headers=api.headers(api.ro))
    assert (response.status_code, response.json()) == (403, FORBIDDEN)


def test_auth_comes_before_body_checks(api: Api) -> None:
    response = api.client.post(
        "/v1/batch/events", content=b"{", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 401


def test_read_only_key_can_read(api: Api) -> None:
    sent = api.batch([event()]).json()["event_ids"][0]
    response = api.client.get(f"/v1/events/{sent}", headers=api.headers(api.ro))
    assert response.status_code == 200 and response.json()["event_id"] == sent


def test_reading_needs_a_key(api: Api) -> None:
    assert api.client.get("/v1/events").json() == UNAUTHORIZED


def test_revoked_key_stops_on_next_request(api: Api) -> None:
    workspace = api.store.find_workspace(api.workspace_id)
    assert workspace is not None
    keys = api.store.list_keys(workspace)
    assert api.batch([event()]).status_code == 200
    rw = next(k for k in keys if k.kind.value == "read_write")
    assert api.store.revoke_key(rw.key_id) is not None
    assert api.batch([event()]).status_code == 401
    assert api.store.revoke_key(rw.key_id) is None  # already revoked


def test_rotated_key_replaces_the_old_one(api: Api) -> None:
    workspace = api.store.find_workspace(api.workspace_id)
    assert workspace is not None
    rw = next(k for k in api.store.list_keys(workspace) if k.kind.value == "read_write")
    issued = api.store.rotate_key(rw.key_id)
    assert issued is not None and issued.secret.startswith("fk_rw_")
    assert api.batch([event()]).status_code == 401
    assert api.batch([event()], key=issued.secret).status_code == 200


def test_keys_are_stored_only_as_hashes(api: Api) -> None:
    dump = dump_database(api.settings)
    assert api.rw not in dump and api.ro not in dump
    assert api.rw.startswith("fk_rw_") and len(api.rw) == 38
    assert api.ro.startswith("fk_ro_") and len(api.ro) == 38


def test_a_key_sees_only_its_own_workspace(api: Api) -> None:
    sent = api.batch([event()]).json()["event_ids"][0]
    _, other = api.store.create_workspace("other")
    assert (
        api.client.get(f"/v1/events/{sent}", headers=api.headers(other.secret)).status_code == 404
    )
    listed = api.client.get("/v1/events", headers=api.headers(other.secret)).json()
    assert listed == {"events": [], "next_cursor": None}

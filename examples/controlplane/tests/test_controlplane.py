"""The example controlplane Worker, tested through groundflare's pytest plugin: each test
starts from the seed, whatever the others wrote."""

from __future__ import annotations

import pytest


def test_starts_with_no_projects(worker):
    assert worker.get("/projects").json() == {"projects": []}


@pytest.mark.parametrize("name", ["web", "api"])
def test_a_new_project_is_the_first_one(worker, name):
    created = worker.post("/projects", json={"name": name})
    assert created.status_code == 201
    assert created.json()["project"]["id"] == 1
    assert [p["name"] for p in worker.get("/projects").json()["projects"]] == [name]


def test_a_project_name_is_unique(worker):
    assert worker.post("/projects", json={"name": "web"}).status_code == 201
    again = worker.post("/projects", json={"name": "web"})
    assert again.status_code == 500
    assert "UNIQUE constraint failed: projects.name" in again.json()["error"]


def test_deployments_are_listed_in_order(worker, groundflare):
    project = worker.post("/projects", json={"name": "web"}).json()["project"]
    for version in ("v1", "v2"):
        answer = worker.post(f"/projects/{project['id']}/deployments", json={"version": version})
    assert [d["version"] for d in answer.json()["deployments"]] == ["v1", "v2"]
    rows = groundflare.d1("DB").execute("SELECT version FROM deployments ORDER BY id")
    assert [row["version"] for row in rows["results"]] == ["v1", "v2"]


def test_flags_start_from_the_seed(worker):
    assert worker.get("/flags").json() == {"flags": {"new-ui": {"enabled": False}}}
    worker.put("/flags/new-ui", json={"enabled": True})
    assert worker.get("/flags").json() == {"flags": {"new-ui": {"enabled": True}}}


def test_a_session_expires_after_an_hour(worker, groundflare):
    session = worker.post("/sessions", json={"user": "ada"}).json()["session"]
    assert worker.get(f"/sessions/{session}").json()["user"] == "ada"
    groundflare.advance_time(3601)
    assert worker.get(f"/sessions/{session}").status_code == 404


def test_an_upload_streams_back_with_its_content_type(worker, groundflare):
    data = bytes(range(256)) * 1000
    put = worker.put(
        "/uploads/app.tar", content=data, headers={"content-type": "application/x-tar"}
    )
    assert put.status_code == 201
    got = worker.get("/uploads/app.tar")
    assert got.content == data and got.headers["content-type"] == "application/x-tar"
    assert groundflare.r2("UPLOADS").head("app.tar")["httpMetadata"] == {
        "contentType": "application/x-tar"
    }

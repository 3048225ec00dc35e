"""Keystone over HTTP: password auth, catalog, token validation, errors."""

from __future__ import annotations

from typing import Any

import httpx

from cloudsim.testing import SiteSet


def _auth_body(user: str, password: str, project: str = "demo") -> dict[str, object]:
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "domain": {"name": "Default"}, "password": password}
                },
            },
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}},
        }
    }


def test_token_catalog_and_validation(sites: SiteSet) -> None:
    site = sites.sites["east"]
    with httpx.Client(timeout=10) as http:
        r = http.post(f"{site.auth_url}/auth/tokens", json=_auth_body("demo", "demo-password"))
        assert r.status_code == 201
        token = r.headers["X-Subject-Token"]
        body = r.json()["token"]
        assert body["project"]["name"] == "demo"
        assert {x["name"] for x in body["roles"]} >= {"member", "reader"}
        types = {s["type"] for s in body["catalog"]}
        assert {"compute", "block-storage", "network", "image", "dns", "identity"} <= types
        regions = {e["region"] for s in body["catalog"] for e in s["endpoints"]}
        assert regions == {site.region}
        assert body["expires_at"] > body["issued_at"]
        v = http.get(
            f"{site.auth_url}/auth/tokens",
            headers={"X-Auth-Token": token, "X-Subject-Token": token},
        )
        assert v.status_code == 200
        assert v.json()["token"]["user"]["name"] == "demo"
        missing = http.get(
            f"{site.auth_url}/auth/tokens",
            headers={"X-Auth-Token": token, "X-Subject-Token": "nope"},
        )
        assert missing.status_code == 404
        gone = http.delete(
            f"{site.auth_url}/auth/tokens",
            headers={"X-Auth-Token": token, "X-Subject-Token": token},
        )
        assert gone.status_code == 204
        after = http.get(
            f"{site.auth_url}/auth/tokens",
            headers={"X-Auth-Token": token, "X-Subject-Token": token},
        )
        assert after.status_code == 401


def test_bad_password_and_bad_body(sites: SiteSet) -> None:
    url = sites.sites["east"].auth_url + "/auth/tokens"
    with httpx.Client(timeout=10) as http:
        r = http.post(url, json=_auth_body("demo", "wrong"))
        assert r.status_code == 401
        assert r.json()["error"]["code"] == 401
        r = http.post(url, json={"auth": {}})
        assert r.status_code == 400
        assert "identity" in r.json()["error"]["message"]
        r = http.post(url, content=b"{not json")
        assert r.status_code == 400


def test_service_rejects_missing_token(sites: SiteSet) -> None:
    base = sites.sites["east"].auth_url.rsplit("/identity", 1)[0]
    r = httpx.get(f"{base}/compute/v2.1/servers", timeout=10)
    assert r.status_code == 401
    r = httpx.get(f"{base}/compute/v2.1/servers", headers={"X-Auth-Token": "bogus"}, timeout=10)
    assert r.status_code == 401


def test_sdk_identity(conn: Any, admin_conn: Any) -> None:
    assert conn.current_project_id
    assert conn.config.get_region_name() == "region-east"
    projects = {p.name for p in admin_conn.identity.projects()}
    assert {"admin", "demo", "service"} <= projects
    roles = {r.name for r in admin_conn.identity.roles()}
    assert roles >= {"admin", "member", "reader"}


def test_reader_cannot_write(sites: SiteSet) -> None:
    site = sites.sites["east"]
    with httpx.Client(timeout=10) as http:
        r = http.post(f"{site.auth_url}/auth/tokens", json=_auth_body("reader", "reader-password"))
        assert r.status_code == 201
        token = r.headers["X-Subject-Token"]
        pid = r.json()["token"]["project"]["id"]
        base = site.auth_url.rsplit("/identity", 1)[0]
        ok = http.get(f"{base}/volume/v3/{pid}/volumes", headers={"X-Auth-Token": str(token)})
        assert ok.status_code == 200
        denied = http.post(
            f"{base}/volume/v3/{pid}/volumes",
            headers={"X-Auth-Token": str(token)},
            json={"volume": {"size": 1}},
        )
        assert denied.status_code == 403
        assert "forbidden" in denied.json()


def test_registered_service_joins_the_catalog(sites: SiteSet) -> None:
    """Keystone's services/endpoints API (admin only): a registered endpoint is in every new
    token's catalog, a member may list but not register, a bad body is a 400 naming the field."""
    site = sites.sites["east"]
    with httpx.Client(base_url=site.auth_url, timeout=10) as http:
        admin = http.post("/auth/tokens", json=_auth_body("admin", "admin-password", "admin"))
        member = http.post("/auth/tokens", json=_auth_body("demo", "demo-password"))
        as_admin = {"X-Auth-Token": admin.headers["X-Subject-Token"]}
        as_member = {"X-Auth-Token": member.headers["X-Subject-Token"]}
        svc = {"service": {"type": "disaster-recovery", "name": "lifeboat"}}
        assert http.post("/services", json=svc, headers=as_member).status_code == 403
        bad = http.post("/services", json={"service": {"name": "x"}}, headers=as_admin)
        assert bad.status_code == 400 and "service.type" in bad.text
        service = http.post("/services", json=svc, headers=as_admin).json()["service"]
        try:
            ep = {"service_id": service["id"], "interface": "public", "url": "http://dr:8700"}
            created = http.post("/endpoints", json={"endpoint": ep}, headers=as_admin)
            assert created.status_code == 201
            assert created.json()["endpoint"]["region_id"] == site.region
            odd = http.post(
                "/endpoints", json={"endpoint": {**ep, "interface": "x"}}, headers=as_admin
            )
            assert odd.status_code == 400 and "endpoint.interface" in odd.text
            listed = http.get(
                "/services", params={"type": "disaster-recovery"}, headers=as_member
            ).json()["services"]
            assert [s["id"] for s in listed] == [service["id"]]
            fresh = http.post("/auth/tokens", json=_auth_body("demo", "demo-password"))
            entry = next(
                s for s in fresh.json()["token"]["catalog"] if s["type"] == "disaster-recovery"
            )
            assert [(e["interface"], e["url"]) for e in entry["endpoints"]] == [
                ("public", "http://dr:8700")
            ]
        finally:
            gone = http.delete(f"/services/{service['id']}", headers=as_admin)
            assert gone.status_code == 204
        assert not http.get("/endpoints", headers=as_admin).json()["endpoints"]

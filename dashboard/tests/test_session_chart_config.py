"""The dashboard's pure parts: the signed session cookie, CSRF, the RPO series and the config."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response

from lifeboat_dashboard import session
from lifeboat_dashboard.charts import rpo_chart, rpo_series
from lifeboat_dashboard.config import DashboardConfig

URLS = {s: f"http://h/{s}" for s in ("policy", "replicator", "orchestrator", "verifier", "billing")}


def _request(cookie: str) -> Request:
    return Request({"type": "http", "headers": [(b"cookie", cookie.encode())]})


def _cookie(response: Response) -> str:
    header = response.headers["set-cookie"]
    assert "httponly" in header.lower() and "samesite=strict" in header.lower(), header
    return header.split(";", 1)[0]


def test_the_session_cookie_is_signed_httponly_strict_and_refuses_tampering() -> None:
    config = DashboardConfig.from_urls(URLS)
    response = Response()
    session.save(response, {"token": "t0k", "role": "reader"}, config)
    cookie = _cookie(response)
    assert session.load(_request(cookie), config)["role"] == "reader"
    name, value = cookie.split("=", 1)
    body, sig = value.split(".")
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB")
    assert session.load(_request(f"{name}={forged}.{sig}"), config) == {}
    other = DashboardConfig.from_urls(URLS)  # another key: its cookies mean nothing here
    assert session.load(_request(cookie), other) == {}


def test_csrf_matches_only_the_sessions_secret() -> None:
    data: dict[str, object] = {}
    token = session.csrf_of(data)
    assert session.csrf_ok(data, token)
    assert not session.csrf_ok(data, token + "x")
    assert not session.csrf_ok(data, None)
    assert not session.csrf_ok({}, token)


def test_rpo_series_peaks_and_breaches() -> None:
    cps = [
        {"taken_at": "2026-01-01T00:00:00+00:00", "created_at": "2026-01-01T00:00:01+00:00"},
        {"taken_at": "2026-01-01T00:00:04+00:00", "created_at": "2026-01-01T00:00:05+00:00"},
        {"taken_at": "2026-01-01T00:00:20+00:00", "created_at": "2026-01-01T00:00:21+00:00"},
    ]
    t0 = 1767225600.0  # 2026-01-01T00:00:00Z
    series = rpo_series(cps, target=10, now=t0 + 23)
    assert [round(v) for _, v in series.peaks] == [5, 17, 3]  # before CP 2, before CP 3, now
    assert series.breaches == 1
    svg = str(rpo_chart(series, 10, "shop <RPO>"))
    assert svg.count('class="breach"') == 1 and "shop &lt;RPO&gt;" in svg


def test_config_from_one_base_url_or_five() -> None:
    one = DashboardConfig.from_base("https://dr.example/")
    assert one.urls["orchestrator"] == "https://dr.example/orchestrator"
    with pytest.raises(ValueError, match="billing"):
        DashboardConfig.from_urls({k: v for k, v in URLS.items() if k != "billing"})

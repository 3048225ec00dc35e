"""`lifeboat dr-site list|declare-down|declare-up|health`: sites as the orchestrator sees them.

`lifeboat site` registers sites with the policy service; these verbs are about a site's health:
what the orchestrator last declared (an operator or the health hysteresis) and why. A site with
no health observations yet (or an orchestrator without the health API) still gets an answer:
its declared state from the site list.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from lifeboat_cli.verbs._client import (
    DEFAULT_POLICY_URL,
    DEFAULT_TOKEN,
    Column,
    JsonOut,
    PolicyUrl,
    Token,
    call,
    console,
    describe_error,
    fail,
    show,
    show_fields,
)
from lifeboat_cli.verbs.plans import (
    DEFAULT_ORCHESTRATOR_URL,
    ENV_HINT,
    OrchestratorUrl,
    ocall,
    seg,
)

app = typer.Typer(
    no_args_is_help=True, help="Site health at the orchestrator: declared state, probes, alerts"
)

COLUMNS: list[Column] = [
    ("site", lambda s: s["site_id"]),
    ("role", lambda s: s["role"] or "-"),
    ("state", lambda s: s["state"]),
    ("health", lambda s: s["assessment"]),
    ("last healthy probe", lambda s: s["last_healthy_at"] or "-"),
    ("since", lambda s: s["declared_at"] or "-"),
    ("declared by", lambda s: s["declared_by"] or "-"),
    ("reason", lambda s: s["reason"] or "-"),
]

SiteArg = Annotated[str, typer.Argument(help="Site id, e.g. site-a")]


def site_rows(policy_url: str, orchestrator_url: str, token: str) -> list[dict[str, Any]]:
    """Every site, registered at the policy service or known to the orchestrator, with its state.

    The orchestrator's ``GET /v1/sites`` lists only sites with a declaration (down or up again),
    so a registered, healthy site that was never declared is not in it: the registry is the
    list, the declarations and the health hysteresis (``/v1/sites/{id}/health``) its state. A
    site never declared down is up.
    """
    registered = {s["site_id"]: s for s in call("GET", policy_url, "/v1/sites", token)}
    declared = {s["id"]: s for s in ocall("GET", orchestrator_url, "/v1/sites", token)}
    rows = []
    for site in sorted(registered.keys() | declared.keys()):
        health = _health(orchestrator_url, token, site) or {}
        decl = declared.get(site) or {}
        rows.append(
            {
                "site_id": site,
                "registered": site in registered,
                "role": (registered.get(site) or {}).get("role"),
                "state": health.get("declared") or decl.get("state") or "up",
                "assessment": health.get("assessment") or "no health observations yet",
                "last_healthy_at": health.get("last_healthy_at"),
                "declared_at": health.get("declared_at") or decl.get("changed_at"),
                "declared_by": health.get("declared_by") or decl.get("declared_by"),
                "reason": health.get("reason") or decl.get("reason"),
            }
        )
    return rows


@app.command("list")
def list_sites(
    policy_url: PolicyUrl = DEFAULT_POLICY_URL,
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Every registered site (policy service) with its state at the orchestrator: declared up or
    down, the health hysteresis' assessment, the last healthy probe."""
    rows = site_rows(policy_url, orchestrator_url, token)
    show(rows, COLUMNS, as_json=json_output, title="Sites (registry + orchestrator health)")


def _accepted(what: str, site: str, reply: dict[str, Any], as_json: bool, note: str) -> None:
    if as_json:
        show_fields(reply, as_json=True)
        return
    console.print(f"site {site} declared {what} (event {reply['event_id']}){note}", highlight=False)


@app.command("declare-down")
def declare_down(
    site: SiteArg,
    reason: Annotated[str, typer.Option(help="Why (kept with the declaration)")] = (
        "declared by operator"
    ),
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Declare a site down (emits SiteDeclaredDown)."""
    path = f"/v1/sites/{seg(site)}/declare-down"
    reply = ocall("POST", orchestrator_url, path, token, body={"reason": reason})
    note = "; plans running there with failover_mode automatic fail over now"
    _accepted("down", site, reply, json_output, note)


@app.command("declare-up")
def declare_up(
    site: SiteArg,
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Declare a site up again (emits SiteDeclaredUp)."""
    reply = ocall("POST", orchestrator_url, f"/v1/sites/{seg(site)}/declare-up", token)
    _accepted("up", site, reply, json_output, "")


def _health(url: str, token: str, site: str) -> dict[str, Any] | None:
    """GET the site's health; None on 404 (nothing observed, or no health API)."""
    import httpx

    try:
        response = httpx.get(
            f"{url.rstrip('/')}/v1/sites/{seg(site)}/health",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
    except httpx.TransportError as exc:
        fail(
            f"cannot reach {url} ({type(exc).__name__}); is the service running "
            f"(`lifeboat up`)? Point elsewhere with {ENV_HINT}."
        )
    if response.status_code == 404:
        return None
    if response.status_code >= 400:
        fail(f"{response.status_code}: {describe_error(response)}")
    data: dict[str, Any] = response.json()
    return data


def _fallback(url: str, token: str, site: str) -> dict[str, Any]:
    known = {s["id"]: s for s in ocall("GET", url, "/v1/sites", token)}
    if site not in known:
        fail(f"site: {site!r} is not known to the orchestrator (sites: {', '.join(known) or '-'})")
    s = known[site]
    return {
        "site_id": site,
        "declared": s["state"],
        "declared_at": s["changed_at"],
        "declared_by": s["declared_by"],
        "reason": s["reason"],
        "assessment": "no health observations yet",
        "recent_probes": [],
        "firing_alerts": [],
    }


@app.command("health")
def health(
    site: SiteArg,
    probes: Annotated[int, typer.Option(min=0, help="Show this many recent probes")] = 10,
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """A site's health: declared state and why, recent probes, firing alerts."""
    data = _health(orchestrator_url, token, site) or _fallback(orchestrator_url, token, site)
    if json_output:
        show_fields(data, as_json=True)
        return
    scalars = {k: v for k, v in data.items() if k not in ("recent_probes", "firing_alerts")}
    show_fields(scalars, as_json=False)
    if data["recent_probes"] and probes:
        table = Table(title="Recent probes (newest first)")
        for header in ("at", "healthy", "services down", "detail"):
            table.add_column(header)
        for p in data["recent_probes"][:probes]:
            down = [name for name, ok in p["services"].items() if not ok]
            ok = "[green]yes[/]" if p["healthy"] else "[red]no[/]"
            table.add_row(p["observed_at"], ok, ", ".join(down) or "-", p["detail"] or "-")
        console.print(table)
    if data["firing_alerts"]:
        table = Table(title="Firing alerts")
        for header in ("alert", "source", "severity", "since", "detail"):
            table.add_column(header)
        for a in data["firing_alerts"]:
            table.add_row(a["alert_id"], a["source"], a["severity"], a["since"], a["detail"])
        console.print(table)

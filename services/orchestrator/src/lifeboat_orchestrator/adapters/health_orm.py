"""Tables of the site health hysteresis (joined to the orchestrator's MetaData).

``site_health`` holds one row per site (declared state, counters of the current healthy run,
the last assessment); ``site_health_probes`` the few most recent probe results per site;
``site_health_alerts`` the alerts firing now (a resolved alert's row is deleted);
``site_probe_leases`` which replica probes each site; ``site_links`` the state of each
site-to-site data link.
"""

import sqlalchemy as sa

from lifeboat_orchestrator.adapters.orm import metadata

TS = sa.DateTime(timezone=True)

site_health = sa.Table(
    "site_health",
    metadata,
    sa.Column("site_id", sa.String(128), primary_key=True),
    sa.Column("declared", sa.String(16), nullable=False),
    sa.Column("declared_at", TS, nullable=True),
    sa.Column("declared_by", sa.String(32), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("ok_run_count", sa.Integer, nullable=False),
    sa.Column("ok_run_since", TS, nullable=True),
    sa.Column("assessment", sa.Text, nullable=False),
    sa.Column("evaluated_at", TS, nullable=True),
    sa.Column("last_healthy_at", TS, nullable=True),
)

site_health_probes = sa.Table(
    "site_health_probes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("site_id", sa.String(128), nullable=False),
    sa.Column("observed_at", TS, nullable=False),
    sa.Column("healthy", sa.Boolean, nullable=False),
    sa.Column("services", sa.JSON, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_site_health_probes_site", "site_id", "observed_at"),
)

site_health_alerts = sa.Table(
    "site_health_alerts",
    metadata,
    sa.Column("site_id", sa.String(128), primary_key=True),
    sa.Column("alert_id", sa.String(255), primary_key=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("severity", sa.String(32), nullable=False),
    sa.Column("since", TS, nullable=False),
    sa.Column("last_seen", TS, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)

site_probe_leases = sa.Table(
    "site_probe_leases",
    metadata,
    sa.Column("site_id", sa.String(128), primary_key=True),
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("lease_until", TS, nullable=False),
)
"""Which orchestrator replica probes a site: one prober per site, taken over when it expires."""

site_links = sa.Table(
    "site_links",
    metadata,
    sa.Column("source_site", sa.String(128), primary_key=True),
    sa.Column("target_site", sa.String(128), primary_key=True),
    sa.Column("reachable", sa.Boolean, nullable=False),
    sa.Column("since", TS, nullable=True),
    sa.Column("last_observed_at", TS, nullable=True),
    sa.Column("observer", sa.String(160), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("failures", sa.JSON, nullable=False),
    sa.Column("successes", sa.Integer, nullable=False),
)
"""Each ordered site-to-site link as its sending side sees it (``domain.links``)."""

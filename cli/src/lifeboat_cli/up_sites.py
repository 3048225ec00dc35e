"""Which sites `lifeboat up` runs: `--sites a,b,c`, or a YAML file (`--config`), else site-a and
site-b; the demo (site-a protected to site-b) needs those two."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NoReturn

import typer

from lifeboat_cli.demo import SOURCE, TARGET

SITE_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def _refuse(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def resolve_sites(
    sites: str | None, config: Path | None, demo: bool
) -> tuple[tuple[str, ...], bool]:
    """(site ids, demo) from the options; exits 2 naming the option on bad input."""
    import yaml

    if sites is not None and config is not None:
        _refuse("--sites and --config: give one of them")
    where = "--sites"
    if config is not None:
        where = f"--config {config}"
        try:
            data = yaml.safe_load(config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            _refuse(f"{where}: cannot read it ({exc})")
        if not isinstance(data, dict) or set(data) - {"sites", "demo"}:
            _refuse(f"{where}: expected a mapping with `sites` (a list) and optionally `demo`")
        listed = data.get("sites")
        if not isinstance(listed, list) or not all(isinstance(s, str) for s in listed):
            _refuse(f"{where}: sites: expected a list of site names")
        if "demo" in data:
            if not isinstance(data["demo"], bool):
                _refuse(f"{where}: demo: expected true or false")
            demo = demo and data["demo"]
        ids = tuple(listed)
    elif sites is not None:
        ids = tuple(s.strip() for s in sites.split(",") if s.strip())
    else:
        ids = (SOURCE, TARGET)
    if not ids:
        _refuse(f"{where}: no site named")
    for site in ids:
        if not SITE_ID.match(site):
            _refuse(f"{where}: {site!r} is not a site name (letters, digits, . _ -)")
    if len(set(ids)) != len(ids):
        _refuse(f"{where}: a site is named twice")
    if demo and not {SOURCE, TARGET} <= set(ids):
        _refuse(f"{where}: the demo protects {SOURCE} to {TARGET}: name both, or pass --no-demo")
    return ids, demo

"""What the billing verbs share: the ``--billing-url`` option and the call with its hint."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer

from lifeboat_cli.verbs._client import call

BillingUrl = Annotated[
    str, typer.Option("--billing-url", envvar="LIFEBOAT_BILLING_URL", help="Billing service URL")
]
DEFAULT_BILLING_URL = "http://127.0.0.1:8705"
ENV_HINT = "LIFEBOAT_BILLING_URL"


def bcall(method: str, url: str, path: str, token: str, **kwargs: Any) -> Any:
    return call(method, url, path, token, env_hint=ENV_HINT, **kwargs)


def seg(value: str) -> str:
    return quote(value, safe="")

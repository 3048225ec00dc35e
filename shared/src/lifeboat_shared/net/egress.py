"""Webhooks without SSRF: every outbound HTTP call whose URL comes from API input goes through here.

- The host is resolved once; every address it resolves to must be global (no loopback,
  link-local, private, shared, multicast, reserved or unspecified address; IPv4-mapped, 6to4,
  Teredo and NAT64 IPv6 addresses are judged by the IPv4 address they carry) unless it lies in a
  network the operator allowlists (``webhook_allow_networks``).
- Integer, hex, octal and shortened IPv4 host forms (``2130706433``, ``0x7f.1``, ``127.1``) are
  refused outright, before any resolution.
- The connection goes to the address that was checked (no second lookup, so no DNS rebinding);
  the Host header and, for https, the TLS server name and certificate check keep the URL's host.
- Redirects are never followed (a 3xx is a failure); a timeout bounds the whole call; the
  response body is never read beyond ``MAX_BODY_BYTES`` and never returned: callers get the
  status code or a short fixed message.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

MAX_BODY_BYTES = 64 * 1024
_NUMERIC_HOST = re.compile(r"(?i)^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*\.?$")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class EgressRefused(Exception):
    """The URL's target is not allowed (a short message naming why; safe to show the caller)."""


class WebhookFailed(Exception):
    """The call was made and failed (timeout, connection error, non-2xx): a short fixed message
    with at most the status code; never any of the response body."""


@dataclass(frozen=True)
class EgressPolicy:
    """What webhooks may reach: global addresses, plus the operator's allowlisted networks."""

    allow: Sequence[IpNetwork] = ()
    resolver: Resolver | None = field(default=None, compare=False)

    def allowed(self, ip: IpAddress) -> bool:
        return any(ip.version == n.version and ip in n for n in self.allow)


def refusal(ip: IpAddress) -> str | None:
    """Why ``ip`` is no webhook target (None: a global address)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return refusal(embedded)
    for label, bad in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("not global", not ip.is_global),
    ):
        if bad:
            return f"{ip} is a {label} address" if label != "not global" else f"{ip} is not global"
    return None


def _check_ip(ip: IpAddress, policy: EgressPolicy) -> None:
    why = refusal(ip)
    if why is not None and not policy.allowed(ip):
        raise EgressRefused(f"{why}; webhooks reach only global addresses unless allowlisted")


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written in the URL (no brackets)
    port: int
    literal: IpAddress | None  # the host is an IP address


def parse_target(url: str) -> Target:
    """The URL's scheme, host and port, refusing odd numeric host forms (no network access)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EgressRefused("url: not a valid URL") from exc
    if parts.scheme not in ("http", "https"):
        raise EgressRefused("url: only http and https webhooks")
    host = parts.hostname
    if not host:
        raise EgressRefused("url: no host")
    if parts.username is not None or parts.password is not None:
        raise EgressRefused("url: credentials in the URL are refused")
    literal: IpAddress | None
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
        if _NUMERIC_HOST.match(host):
            raise EgressRefused(
                f"url: numeric host {host!r} is not a dotted-quad IPv4 address; refused"
            ) from None
    if isinstance(literal, ipaddress.IPv6Address) and literal.scope_id:
        raise EgressRefused("url: IPv6 zone ids are refused")
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, host, port or default, literal)


def check_literal(url: str, policy: EgressPolicy) -> None:
    """Create-time check: the URL parses and a literal IP host is allowed (names are checked
    when the webhook is called, after resolution)."""
    target = parse_target(url)
    if target.literal is not None:
        _check_ip(target.literal, policy)


async def _system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resolve_checked(target: Target, policy: EgressPolicy) -> IpAddress:
    """The address to connect to: every address the host resolves to must pass (a name that
    resolves to one refused address is refused), and the first is used."""
    if target.literal is not None:
        _check_ip(target.literal, policy)
        return target.literal
    resolver = policy.resolver or _system_resolver
    try:
        found = await resolver(target.host, target.port)
    except OSError as exc:
        raise WebhookFailed(f"cannot resolve {target.host}") from exc
    addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
    if not addresses:
        raise WebhookFailed(f"cannot resolve {target.host}")
    for ip in addresses:
        _check_ip(ip, policy)
    return addresses[0]


async def post_json(
    url: str, payload: dict[str, Any], *, policy: EgressPolicy, timeout_seconds: float
) -> int:
    """POST ``payload`` as JSON to ``url`` under the policy; returns the 2xx status.

    Raises EgressRefused (target not allowed) or WebhookFailed (timeout, connection error,
    redirect or other non-2xx answer); both carry short messages without the response body.
    """
    target = parse_target(url)
    try:
        return await asyncio.wait_for(_post(url, target, payload, policy), timeout_seconds)
    except TimeoutError:
        raise WebhookFailed(f"no answer within {timeout_seconds:g} s") from None


async def _post(url: str, target: Target, payload: dict[str, Any], policy: EgressPolicy) -> int:
    ip = await resolve_checked(target, policy)
    parts = urlsplit(url)
    host_in_url = f"[{ip}]" if ip.version == 6 else str(ip)
    pinned = parts._replace(netloc=f"{host_in_url}:{target.port}").geturl()
    default_port = 443 if target.scheme == "https" else 80
    shown = f"[{target.host}]" if ":" in target.host else target.host
    host_header = shown if target.port == default_port else f"{shown}:{target.port}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
            request = client.build_request(
                "POST", pinned, json=payload, headers={"Host": host_header}, extensions=extensions
            )
            response = await client.send(request, stream=True)
            try:
                status = response.status_code
                read = 0
                async for chunk in response.aiter_raw():  # drained within the cap, then dropped
                    read += len(chunk)
                    if read >= MAX_BODY_BYTES:
                        break
            finally:
                await response.aclose()
    except httpx.HTTPError as exc:
        raise WebhookFailed(f"request failed ({type(exc).__name__})") from exc
    if 300 <= status < 400:
        raise WebhookFailed(f"answered {status}; redirects are not followed")
    if not 200 <= status < 300:
        raise WebhookFailed(f"answered {status}")
    return status

"""Command hooks the operator installs on a host, referenced by name from policies and plans.

The API never carries a command line: a service's settings map hook names to an argv and a
timeout (``LIFEBOAT_REPLICATOR_HOOKS``, ``LIFEBOAT_ORCHESTRATOR_HOOKS``, JSON). A hook runs
without a shell, in a scrubbed environment (only ``PATH``, ``LANG`` and the ``LIFEBOAT_HOOK_*``
variables its caller documents; nothing of the service's own environment), under its timeout; its
output is never returned beyond a short one-line excerpt with secrets masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from lifeboat_shared.net.egress import EgressPolicy

HOOK_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
EXCERPT_CHARS = 160
_SECRET = re.compile(
    r"(?i)\b([A-Za-z0-9_]*(?:password|passwd|token|secret|api[_-]?key|psk|authorization|"
    r"credential)[A-Za-z0-9_]*)(\s*[:=]\s*)(bearer\s+)?\S+"
)
_USERINFO = re.compile(r"://[^/@\s]+@")


class CommandHook(BaseModel):
    """One installed hook: what runs (argv[0] an absolute path or a name on the safe PATH)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    argv: list[str] = Field(min_length=1, max_length=64)
    timeout_seconds: float = Field(default=60, gt=0, le=3600)


@dataclass(frozen=True)
class HookHost:
    """What a host offers hooks: its installed command hooks, the webhook egress policy and the
    secrets a hook's output excerpt must never show."""

    commands: Mapping[str, CommandHook] = field(default_factory=dict)
    egress: EgressPolicy = field(default_factory=EgressPolicy)
    secrets: Sequence[str] = ()


class HookFailed(Exception):
    """A hook could not run or did not succeed; the message is short and redacted."""


def redact(text: str, secrets: Iterable[str] = (), limit: int = EXCERPT_CHARS) -> str:
    """One line, the given secret values and anything that looks like a credential masked,
    at most ``limit`` characters (the tail, where errors usually are)."""
    line = " ".join(text.split())
    for value in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        line = line.replace(value, "***")
    line = _USERINFO.sub("://***@", _SECRET.sub(r"\1\2***", line))
    return line if len(line) <= limit else "..." + line[-(limit - 3) :]


def secret_values(settings: BaseModel) -> list[str]:
    """The values a hook's output must never show: every SecretStr of the settings and the
    password of every URL among them."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, str):
            match = re.search(r"://[^:/@\s]*:([^@/\s]+)@", value)
            if match:
                found.append(match.group(1))
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, Mapping):
            for v in value.values():
                walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)

    walk(settings)
    return found


def installed(hooks: Mapping[str, CommandHook], name: str, setting: str) -> CommandHook:
    hook = hooks.get(name)
    if hook is None:
        raise HookFailed(f"no command hook named {name!r} is installed on this host ({setting})")
    return hook


async def _tail(proc: asyncio.subprocess.Process, keep: int = 4096) -> bytes:
    """The last ``keep`` bytes of the hook's output (however much it prints), once it exits."""
    assert proc.stdout is not None
    kept = b""
    while chunk := await proc.stdout.read(65536):
        kept = (kept + chunk)[-keep:]
    await proc.wait()
    return kept


async def run_command(
    name: str,
    hook: CommandHook,
    variables: Mapping[str, str],
    *,
    secrets: Iterable[str] = (),
) -> str:
    """Run an installed hook; returns a short summary, raises HookFailed (short, redacted)."""
    env = {"PATH": SAFE_PATH, "LANG": "C.UTF-8", **variables}
    try:
        proc = await asyncio.create_subprocess_exec(
            *hook.argv,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise HookFailed(f"command hook {name!r} cannot start: {exc.strerror}") from exc
    try:
        out = await asyncio.wait_for(_tail(proc), hook.timeout_seconds)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the hook's children too
        await proc.wait()
        raise HookFailed(
            f"command hook {name!r} timed out after {hook.timeout_seconds:g} s"
        ) from None
    if proc.returncode != 0:
        tail = redact(out.decode(errors="replace"), secrets)
        raise HookFailed(f"command hook {name!r} exited {proc.returncode}: {tail}")
    return f"command {name} ok"

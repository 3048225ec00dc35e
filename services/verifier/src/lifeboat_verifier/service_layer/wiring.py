"""Per-runtime singletons: the deployment's signing key, loaded (or, on the embedded default,
generated) once per running service."""

from __future__ import annotations

from lifeboat_shared.service.runtime import ServiceRuntime
from lifeboat_verifier.adapters.signing import SigningKey, load_signing_key
from lifeboat_verifier.settings import VerifierSettings

_keys: dict[int, SigningKey] = {}


def settings_of(runtime: ServiceRuntime) -> VerifierSettings:
    settings = runtime.settings
    assert isinstance(settings, VerifierSettings)
    return settings


def signing_key_for(runtime: ServiceRuntime) -> SigningKey:
    key = _keys.get(id(runtime))
    if key is None:
        settings = settings_of(runtime)
        key = _keys[id(runtime)] = load_signing_key(
            settings.resolved_signing_key_file(), generate=settings.may_generate_signing_key()
        )
    return key


def forget(runtime: ServiceRuntime) -> None:
    _keys.pop(id(runtime), None)

"""Per-runtime singletons the API and the background runner share: the site clouds and the
runner (the API kicks it when it creates an execution, so it starts without waiting a pass)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lifeboat_orchestrator.domain.links import LinkRules
from lifeboat_orchestrator.settings import OrchestratorSettings
from lifeboat_shared.cloud.settings import CloudDriverSettings
from lifeboat_shared.cloud.sites import SiteClouds
from lifeboat_shared.service.runtime import ServiceRuntime

if TYPE_CHECKING:
    from lifeboat_orchestrator.service_layer.runner import ExecutionRunner

_clouds: dict[int, SiteClouds] = {}
_runners: dict[int, ExecutionRunner] = {}


def clouds_for(runtime: ServiceRuntime) -> SiteClouds:
    key = id(runtime)
    clouds = _clouds.get(key)
    if clouds is None:
        settings = runtime.settings
        assert isinstance(settings, OrchestratorSettings)
        # Status polls every <= 0.5 s: a server that is ACTIVE after 2 s is seen within 0.5 s, and
        # polls are cheap JSON reads. LIFEBOAT_CLOUD_POLL_MAX_INTERVAL, when set, wins (an
        # init argument would override the environment).
        driver = CloudDriverSettings()
        if "poll_max_interval" not in driver.model_fields_set:
            driver = CloudDriverSettings(poll_max_interval=0.5)
        clouds = _clouds[key] = SiteClouds(settings.clouds_yaml, driver)
    return clouds


async def close_clouds(runtime: ServiceRuntime) -> None:
    clouds = _clouds.pop(id(runtime), None)
    if clouds is not None:
        await clouds.aclose()


def set_runner(runtime: ServiceRuntime, runner: ExecutionRunner | None) -> None:
    if runner is None:
        _runners.pop(id(runtime), None)
    else:
        _runners[id(runtime)] = runner


def kick(runtime: ServiceRuntime) -> None:
    runner = _runners.get(id(runtime))
    if runner is not None:
        runner.kick.set()


def link_rules(s: OrchestratorSettings) -> LinkRules:
    return LinkRules(
        cut_after_failures=s.link_cut_after_failures,
        cut_window_seconds=s.link_cut_window_seconds,
        up_after_successes=s.link_up_after_successes,
        probe_max_age_seconds=s.partition_probe_max_age_seconds,
    )


def link_rules_for(runtime: ServiceRuntime) -> LinkRules:
    settings = runtime.settings
    assert isinstance(settings, OrchestratorSettings)
    return link_rules(settings)

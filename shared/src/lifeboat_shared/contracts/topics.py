"""Every Kafka topic Lifeboat uses, in one place.

Keys give order: everything about one protection group is keyed by the group id, site events by
the site id, so one partition sees them in order.
"""

from typing import Final

POLICY_EVENTS: Final = "lifeboat.policy.events.v1"
REPLICATOR_COMMANDS: Final = "lifeboat.replicator.commands.v1"
REPLICATOR_EVENTS: Final = "lifeboat.replicator.events.v1"
ORCHESTRATOR_COMMANDS: Final = "lifeboat.orchestrator.commands.v1"
ORCHESTRATOR_EVENTS: Final = "lifeboat.orchestrator.events.v1"
SITE_EVENTS: Final = "lifeboat.sites.events.v1"
VERIFIER_EVENTS: Final = "lifeboat.verifier.events.v1"
USAGE_EVENTS: Final = "lifeboat.billing.usage.v1"
DEAD_LETTER: Final = "lifeboat.deadletter.v1"

ALL_TOPICS: Final[tuple[str, ...]] = (
    POLICY_EVENTS,
    REPLICATOR_COMMANDS,
    REPLICATOR_EVENTS,
    ORCHESTRATOR_COMMANDS,
    ORCHESTRATOR_EVENTS,
    SITE_EVENTS,
    VERIFIER_EVENTS,
    USAGE_EVENTS,
    DEAD_LETTER,
)

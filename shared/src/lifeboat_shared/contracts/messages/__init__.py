"""The first messages the services exchange. Importing this package registers every type."""

from lifeboat_shared.contracts.messages.billing import UsageRecorded
from lifeboat_shared.contracts.messages.orchestrator import (
    BubbleReady,
    FailoverCompleted,
    FailoverStepProgressed,
    StartFailover,
)
from lifeboat_shared.contracts.messages.policy import RpoTickElapsed
from lifeboat_shared.contracts.messages.replicator import (
    ConsistencyPointCreated,
    ConsistencyPointFailed,
    ReplicateNow,
)
from lifeboat_shared.contracts.messages.sites import SiteDeclaredDown, SiteDeclaredUp
from lifeboat_shared.contracts.messages.verifier import BubbleTestCompleted

__all__ = [
    "BubbleReady",
    "BubbleTestCompleted",
    "ConsistencyPointCreated",
    "ConsistencyPointFailed",
    "FailoverCompleted",
    "FailoverStepProgressed",
    "ReplicateNow",
    "RpoTickElapsed",
    "SiteDeclaredDown",
    "SiteDeclaredUp",
    "StartFailover",
    "UsageRecorded",
]

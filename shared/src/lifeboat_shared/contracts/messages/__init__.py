"""The first messages the services exchange. Importing this package registers every type."""

from lifeboat_shared.contracts.messages.billing import UsageRecorded
from lifeboat_shared.contracts.messages.orchestrator import (
    BubbleReady,
    FailoverCompleted,
    FailoverStepProgressed,
    StartFailover,
)
from lifeboat_shared.contracts.messages.policy import (
    ReplicationResumed,
    ReplicationSuspended,
    RpoBreached,
    RpoTickElapsed,
    SiteRegistered,
)
from lifeboat_shared.contracts.messages.protection import (
    HookAction,
    QuiesceHook,
    QuiesceSpec,
    ReplicationSpec,
    RetentionSpec,
    SiteRef,
)
from lifeboat_shared.contracts.messages.replicator import (
    ConsistencyPointCreated,
    ConsistencyPointFailed,
    ConsistencyPointPruned,
    CpMember,
    QuiesceFailed,
    ReplicateNow,
)
from lifeboat_shared.contracts.messages.sites import SiteDeclaredDown, SiteDeclaredUp
from lifeboat_shared.contracts.messages.verifier import BubbleTestCompleted

__all__ = [
    "BubbleReady",
    "BubbleTestCompleted",
    "ConsistencyPointCreated",
    "ConsistencyPointFailed",
    "ConsistencyPointPruned",
    "CpMember",
    "FailoverCompleted",
    "FailoverStepProgressed",
    "HookAction",
    "QuiesceFailed",
    "QuiesceHook",
    "QuiesceSpec",
    "ReplicateNow",
    "ReplicationResumed",
    "ReplicationSpec",
    "ReplicationSuspended",
    "RetentionSpec",
    "RpoBreached",
    "RpoTickElapsed",
    "SiteDeclaredDown",
    "SiteDeclaredUp",
    "SiteRef",
    "SiteRegistered",
    "StartFailover",
    "UsageRecorded",
]

"""The first messages the services exchange. Importing this package registers every type."""

from lifeboat_shared.contracts.messages.billing import InvoiceIssued, UsageRecorded
from lifeboat_shared.contracts.messages.health import SiteHealthObserved
from lifeboat_shared.contracts.messages.links import SiteLinkObserved
from lifeboat_shared.contracts.messages.orchestrator import (
    BubbleEndpoint,
    BubbleReady,
    BubbleRemoved,
    ExecutionCompleted,
    ExecutionStepProgressed,
    ProtectionChange,
    SplitBrainDetected,
    StartExecution,
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
    QuiesceFailure,
    ReplicateNow,
)
from lifeboat_shared.contracts.messages.sites import SiteDeclaredDown, SiteDeclaredUp
from lifeboat_shared.contracts.messages.verifier import BubbleTestAlertRaised, BubbleTestCompleted

__all__ = [
    "BubbleEndpoint",
    "BubbleReady",
    "BubbleRemoved",
    "BubbleTestAlertRaised",
    "BubbleTestCompleted",
    "ConsistencyPointCreated",
    "ConsistencyPointFailed",
    "ConsistencyPointPruned",
    "CpMember",
    "ExecutionCompleted",
    "ExecutionStepProgressed",
    "HookAction",
    "InvoiceIssued",
    "ProtectionChange",
    "QuiesceFailed",
    "QuiesceFailure",
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
    "SiteHealthObserved",
    "SiteLinkObserved",
    "SiteRef",
    "SiteRegistered",
    "SplitBrainDetected",
    "StartExecution",
    "UsageRecorded",
]

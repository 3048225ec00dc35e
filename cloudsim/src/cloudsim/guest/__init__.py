"""The guest model: quiesce agents, record-writing workloads, health/exec services, checker."""

from cloudsim.guest.agent import GuestAgent, QuiesceError
from cloudsim.guest.checker import (
    ConsistencyReport,
    VolumeFinding,
    WorkloadConsistency,
    check_consistency,
)
from cloudsim.guest.services import GuestServices
from cloudsim.guest.workload import Workload, WorkloadVolume

__all__ = [
    "ConsistencyReport",
    "GuestAgent",
    "GuestServices",
    "QuiesceError",
    "VolumeFinding",
    "Workload",
    "WorkloadConsistency",
    "WorkloadVolume",
    "check_consistency",
]

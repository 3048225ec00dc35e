"""Site-to-site link observations: can one site's replicator reach the other site's receiver.

The replicator emits one per cycle attempt that tried the link (success: a transfer to the
target's receiver completed; failure: the link was down for the whole retry period), on
``lifeboat.sites.events.v1`` beside the sites' own health. The orchestrator's hysteresis turns
them into a link state; a cut link between two sites that are both up is a partition (UC6).
"""

from pydantic import Field

from lifeboat_shared.contracts import topics
from lifeboat_shared.contracts.base import Event, register
from lifeboat_shared.contracts.messages._fields import Id, Timestamp


@register
class SiteLinkObserved(Event):
    """One look at the data link source_site -> target_site, as the sending side saw it."""

    topic = topics.SITE_EVENTS

    source_site: Id = Field(description="The sending side (where the observer runs)")
    target_site: Id = Field(description="The side whose receiver was (or was not) reached")
    reachable: bool = Field(description="A transfer to the target's receiver succeeded")
    observer: str = Field(
        min_length=1,
        max_length=160,
        pattern=r"^[A-Za-z0-9_.:/@\-]+$",
        description="Who looked, e.g. replicator:<host>",
    )
    detail: str = Field(default="", max_length=300)
    at: Timestamp

    def partition_key(self) -> str:
        # One link's observations share a partition: they are applied in order.
        return f"{self.source_site}->{self.target_site}"

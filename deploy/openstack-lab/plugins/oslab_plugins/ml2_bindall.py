"""An ML2 mechanism driver that binds every port, so Nova's fake compute driver gets bound ports.

Without an L2 agent (Open vSwitch, OVN...) no mechanism driver can bind a port and Nova fails
every boot with a port binding error. The lab has no data plane at all, so this driver binds the
first segment it is offered with ``vif_type=ovs`` and marks the port ACTIVE at once; Nova's fake
virt driver plugs nothing, so no agent is ever asked.
"""

from __future__ import annotations

from typing import Any

from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api


class BindAllMechanismDriver(api.MechanismDriver):  # type: ignore[misc]
    """Binds any port on any segment type (flat, vlan, ...), for any host."""

    def initialize(self) -> None:
        """Nothing to set up: the driver keeps no state."""

    @property
    def connectivity(self) -> str:
        """Layer 2 connectivity, so Neutron accepts the binding for routed and plain networks."""
        return str(portbindings.CONNECTIVITY_L2)

    def bind_port(self, context: Any) -> None:
        """Bind the port to the first segment offered and report it ACTIVE."""
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID],
                portbindings.VIF_TYPE_OVS,
                {portbindings.CAP_PORT_FILTER: True, portbindings.OVS_HYBRID_PLUG: False},
                status=constants.PORT_STATUS_ACTIVE,
            )
            return

"""Plugins for Lifeboat's single-machine OpenStack lab (see deploy/openstack-lab/README.md)."""

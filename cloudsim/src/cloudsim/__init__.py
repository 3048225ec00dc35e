"""cloudsim: simulated OpenStack sites for Lifeboat (see cloudsim/README.md)."""

"""`openstack dr ...`: the python-openstackclient plugin for Lifeboat."""

"""The actions an execution's steps run, by name (``Step.action``)."""

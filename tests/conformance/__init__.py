"""Cloud driver conformance suite: the same tests against cloudsim and against real OpenStack."""

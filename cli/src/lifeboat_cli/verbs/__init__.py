"""`lifeboat` verbs that talk to the services' REST APIs (one module per resource)."""

"""The event bus: one interface (interface.py), a Kafka backend, an embedded (SQL log) backend."""

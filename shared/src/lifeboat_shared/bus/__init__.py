"""The event bus: one interface (interface.py), a Kafka backend and an embedded (SQL log) backend."""

"""Outbound network calls built from API input (webhooks): see ``egress``."""

"""Lifeboat's web dashboard: server-rendered pages over the five services' public REST APIs."""

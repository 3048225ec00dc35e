from lifeboat_shared.persistence.migrations import run_env

from lifeboat_policy.adapters.orm import metadata

run_env(metadata)

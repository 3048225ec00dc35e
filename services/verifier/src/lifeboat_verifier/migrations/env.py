from lifeboat_shared.persistence.migrations import run_env
from lifeboat_verifier.adapters.orm import metadata

run_env(metadata)

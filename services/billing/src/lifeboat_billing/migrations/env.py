from lifeboat_billing.adapters.orm import metadata
from lifeboat_shared.persistence.migrations import run_env

run_env(metadata)

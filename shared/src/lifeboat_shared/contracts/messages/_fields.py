"""Field types shared by the message modules."""

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, Field

Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]
"""A resource id: UUIDs, OpenStack ids, site names."""

Timestamp = AwareDatetime
"""Always timezone-aware: events cross sites in different time zones."""

__all__ = ["Id", "Timestamp", "datetime"]

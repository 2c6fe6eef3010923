"""What a creator asks of the stats feature."""

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class GetStats:
    """A campaign's stats, for its creator only."""

    campaign_id: UUID
    creator_id: str

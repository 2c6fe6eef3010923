"""What an operator asks of the closing feature."""

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True, slots=True)
class CloseNow:
    """Close this campaign's intake now instead of at its deadline (e.g. a creator's
    request, or a drop that must stop)."""

    campaign_id: UUID

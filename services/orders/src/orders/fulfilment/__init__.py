"""Fulfilment: shipping addresses (asked on a shipping campaign's orders, editable by the
buyer until the deadline), the creator's orders (a keyset-paginated list and a streamed CSV,
owner only) and the erasure of buyers' personal data once it is no longer needed."""

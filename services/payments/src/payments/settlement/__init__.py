"""Settlement: the durable work queue of authorizations, captures and releases
(``settlement_items``, ADR 0005), the worker lanes that drain it and make the Stripe calls,
a campaign's capture or release run and its summary, and the operators' ``settlement`` and
``queue`` commands."""

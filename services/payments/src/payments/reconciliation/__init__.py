"""Reconciliation: our payments' states and refunded amounts against Stripe's, reported and,
with ``--repair``, moved forward the way the missed webhooks would have."""

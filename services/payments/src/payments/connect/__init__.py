"""Stripe Connect: creators onboard to an Express account and their campaigns' charges go
to it (destination charges, less the platform fee). ``account.updated`` webhooks record the
account's state (newest event wins) and emit ``CreatorPayoutsUpdated`` so campaigns knows
who may publish; ``CampaignPublished`` gives the campaign -> creator map (charges' destination,
who may refund)."""

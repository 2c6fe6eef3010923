"""Stripe's signed webhooks: PaymentIntent and charge events move payments forward (and
tell when a hold ends); ``account.updated`` goes to Connect."""

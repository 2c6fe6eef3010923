"""Refunds of captured payments, by the campaign's owner (API) or an operator (CLI), never
more than was captured, each recorded with its ``PaymentRefunded``."""

"""Authorization: an order's payment recorded and its hold queued for Stripe when the order
is placed, and released when it is cancelled (the settlement worker makes the calls)."""

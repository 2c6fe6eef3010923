"""Pay-later: past an authorization's window the saved card is charged off-session; when
that fails the buyer gets a signed, expiring link to pay within a grace period, with
reminders, and the link is given up at its end."""

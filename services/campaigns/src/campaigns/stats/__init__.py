"""The creator's stats: views, shares and orders of a campaign, by referral code and by
source, per hour, and how many orders reached authorized (``GET
/api/v1/campaigns/{id}/stats``, owner only).

A projection of events, never a query of another service: orders' ``OrderPlaced`` (with the
buyer's referral code and source), ``OrderConfirmed`` and ``OrderCancelled`` make one row per
order (``stats_orders``, keyed by the order, written in the event's unit of work, so the
runtime's inbox and the key make it exactly once whatever the redeliveries and the
concurrency); views and shares are the activity feature's counters, which now keep the
visitor's referral code and source. Counts are ``GROUP BY`` reads in one snapshot.

Roles: ``routes`` (HTTP) and ``schemas`` (its body); ``commands`` (what the creator asks);
``handlers`` (the event reactions and the read); ``domain`` (source labels, rates; no
I/O); ``models`` (the tables).
"""

"""The activity feature: a campaign's public feed ("Buyer #12 joined", milestones, the
outcome), its live stream (Server-Sent Events over LISTEN/NOTIFY) and its view/share
counters.

Roles: ``routes`` (HTTP) and ``schemas`` (its bodies); ``handlers`` (entries recorded from
campaigns' own events and order reactions); ``jobs`` (partition upkeep, counter roll-up, the
live listener); ``domain`` (entry messages, cursors, the token bucket; no I/O); ``models``
(the tables); ``store`` (every SQL statement of the feature, reads and writes alike:
recording with its NOTIFY, keyset pages, partitions, the roll-up; named a store rather than
queries because it writes too); ``live`` (the in-memory fan-out to SSE clients);
``settings`` (its own environment settings and the ``feed`` dependency built from them).
"""

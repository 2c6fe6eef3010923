"""The closing job: at a campaign's deadline orders closes its intake and, once every order
placed in time has its outcome, publishes the closing tally (``OrdersTallied``).

Orders owns order state, so orders says which orders stand; campaigns decides the outcome
from the tally alone (docs/adr/0007-closing-tally.md). State lives in the database only
(deadline, ``intake_closed_at``, ``tallied_at``), so a restart misses nothing and any number
of instances may run the job (``SKIP LOCKED``).
"""

"""Orders: buyers place and cancel orders on a campaign; orders follow campaigns' and
payments' events and close each campaign with its tally.

- ``routes.py`` (HTTP bodies from ``schemas.py`` become ``commands.py``; domain errors become
  problems) -> ``handlers.py`` (place, cancel, reactions to events) -> ``domain.py`` (rules)
  and ``models.py``; ``bootstrap.py`` lists what the service runs.
- ``intake.py``: the group-commit queue in front of ``handlers.place_orders`` (ADR 0001).
- ``abuse.py``: card-testing lockouts (rules, decline counter, in-memory lockouts and their
  reload job), small enough to stay one module.
- ``closing/``: the closing tally (ADR 0007): ``handlers.py`` one round, ``jobs.py`` the
  periodic job, ``domain.py`` the tally's rules.
"""

"""Domain errors: why a command was refused, in the domain's words, with no HTTP in them.

Handlers raise one of the four kinds with a stable ``code`` (the problem code clients see)
and a message for people. Only the routes turn them into problem responses
(``problems.problem_from``), and a CLI prints them; the kind, not the handler, decides the
status.
"""


class DomainError(Exception):
    """A command refused by a rule of the domain."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NotFound(DomainError):
    """What the command names does not exist (or is not the caller's to know of)."""


class NotAllowed(DomainError):
    """The caller may not do this (e.g. a creator acting on another creator's campaign)."""


class Conflict(DomainError):
    """The state forbids it now (e.g. an order after the deadline)."""


class Invalid(DomainError):
    """The input is wrong whatever the state (e.g. a deadline too soon)."""

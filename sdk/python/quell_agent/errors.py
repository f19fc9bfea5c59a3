"""The errors the library raises: one line each, naming what was wrong."""


class QuellError(Exception):
    """Base of every error this library raises."""


class Unavailable(QuellError):
    """The store or log cannot be reached, or refused service."""


class NotAStore(QuellError):
    """A file that is not a quell store (or of another schema version); left untouched."""


class Conflict(QuellError):
    """The store holds something that contradicts the request (a chain written by another process)."""


class Killed(QuellError):
    """The session was killed by an operator; no further step may start."""

"""Errors the tracker raises for input it cannot use.

They subclass ``ValueError`` so callers that already catch bad values keep working, while callers
that want to tell a bad frame or box apart from other failures can catch them specifically.
"""


class InvalidInputError(ValueError):
    """An image or box that the tracker cannot use; the message says what is wrong."""

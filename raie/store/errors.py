"""The error the store raises when a table, a file or a query is wrong."""

from __future__ import annotations

from raie.errors import RaieError


class StoreError(RaieError):
    """The store cannot do what was asked; the message says what and how to fix it."""

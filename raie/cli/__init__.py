"""The ``raie`` command line."""

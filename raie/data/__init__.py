"""Loaders that turn public data sets into the canonical Arrow tables."""

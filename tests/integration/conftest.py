"""Fixtures of the integration tier: the real services they talk to."""

from tests.integration.broker import kafka_bootstrap  # noqa: F401

"""argparse types of the Kafka-facing options, shared by ``raie worker``, ``publish`` and ``replay``.

They run while the command line is parsed, so a malformed address or name
exits 2 naming the option before any client tries to reach a broker.
"""

from __future__ import annotations

import argparse
import re

MAX_PORT = 65_535

KAFKA_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")
"""Legal Kafka topic names are these characters, at most 249 of them; 200 leaves
room for the suffixes Faust adds when a name prefixes its changelog topics."""


def bootstrap_servers(text: str) -> str:
    """``HOST:PORT[,HOST:PORT...]``, each port in 1..65535: what a Kafka client can dial."""
    for server in text.split(","):
        host, colon, port = server.strip().rpartition(":")
        if not colon or not host or not port.isdigit() or not 1 <= int(port) <= MAX_PORT:
            raise argparse.ArgumentTypeError(
                f"{server.strip()!r} is not HOST:PORT with a port in 1..{MAX_PORT} (e.g. 127.0.0.1:9092)"
            )
    return text


def kafka_name(text: str) -> str:
    """A topic name, or an app id that prefixes topic names."""
    if not KAFKA_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r}: use 1 to 200 of A-Z a-z 0-9 . _ - (it names Kafka topics)")
    return text

"""Small facts about consumed Faust events that every agent needs."""

from __future__ import annotations

import time
from typing import Any

from schemas import SliceMark


def now_ms() -> int:
    return int(time.time() * 1000)


def is_mark(event: Any) -> bool:
    """Whether the event is a slice mark; Faust gives headers as a dict or as (name, value) pairs."""
    headers = event.headers or {}
    return SliceMark.is_mark(headers.items() if isinstance(headers, dict) else headers)

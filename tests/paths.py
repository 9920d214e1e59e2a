"""Paths of the data the tests read: the MovieLens copy bundled with the repository."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ML_LATEST_SMALL = REPO / "data" / "ml-latest-small"

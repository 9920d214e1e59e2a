"""A store row as the slice step's results become rows (raie/online/rows.py): column name -> value.

Whoever writes the rows adds the run key (``run_id``, ``method``, ``seed``,
and on the stream ``slice``) and the store checks them against the table's spec.
"""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]

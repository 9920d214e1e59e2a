"""``raie adapters``: list a stream store's adapter versions, and roll one back.

Both read the registry (``<store>/adapters/``) and the commit point
(``<store>/artifacts/state.json``) a stream writes. ``raie experiment`` keeps
its adapters per run under ``<store>/experiments/`` with no commit point:
nothing serves them, so there is nothing to roll back.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from raie.cli.common import at_least
from raie.errors import ConfigError
from raie.online.artifacts import ARTIFACTS_DIR, STATE_FILE, Artifacts
from raie.online.rows import promotion_row
from raie.online.slice_training import ROLLED_BACK, PromotionDecision
from raie.recording import Row
from raie.regions.router import FALLBACK
from raie.store import Store
from raie.store.manifest import manifest_path
from raie.tabular import format_text_table

PROMOTIONS_TABLE = "promotions"
LIST_FORMATS = ("table", "json")
COLUMNS = ("adapter", "version", "created", "valid_recall", "parent", "live", "decision", "reason")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    adapters = subparsers.add_parser("adapters", help="list a stream store's adapter versions; roll one back")
    actions = adapters.add_subparsers(dest="action", required=True)
    listing = actions.add_parser(
        "list", help="every version: lineage, validation recall, whether it serves, its last promotion decision"
    )
    listing.add_argument("--store", required=True, type=Path, help="store directory a stream writes to")
    listing.add_argument("--format", choices=LIST_FORMATS, default="table")
    listing.set_defaults(handler=list_command)
    rollback = actions.add_parser("rollback", help="make an earlier version of an adapter the live one")
    rollback.add_argument("--store", required=True, type=Path, help="store directory a stream writes to")
    rollback.add_argument("--adapter", required=True, help="adapter name, e.g. global or region_3")
    rollback.add_argument(
        "--to", required=True, type=at_least(int, 0, "2"), dest="version", help="the version to make live"
    )
    rollback.set_defaults(handler=rollback_command)


def live_artifacts(store_dir: Path) -> Artifacts:
    """The artifacts of the stream store at ``store_dir``; ConfigError naming the fix otherwise."""
    if not manifest_path(store_dir).is_file():
        raise ConfigError(
            "--store",
            f"{store_dir} is not a raie store (it has no {manifest_path(store_dir).name})",
            "pass the directory a stream writes to (its --store)",
        )
    artifacts = Artifacts.in_store(store_dir)
    if not (artifacts.root / STATE_FILE).is_file():
        raise ConfigError(
            "--store",
            f"{store_dir} has no committed slice ({ARTIFACTS_DIR}/{STATE_FILE}), so no adapter serves",
            "pass a stream's store once its Set-up slice has closed; raie experiment's adapters "
            "(under experiments/) are not served",
        )
    return artifacts


def list_command(args: argparse.Namespace) -> int:
    artifacts = live_artifacts(args.store)
    with Store.open(args.store, create=False, read_only=True) as store:
        decisions = last_decisions(store)
    rows = version_rows(artifacts, decisions)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        print(format_text_table(list(COLUMNS), [[_cell(row[c]) for c in COLUMNS] for row in rows]))
    return 0


def last_decisions(store: Store) -> dict[tuple[str, int], Row]:
    """(adapter, version) -> the newest ``promotions`` row about that version."""
    rows = sorted(store.read(PROMOTIONS_TABLE).to_pylist(), key=lambda r: r["at_ms"])
    return {(r["adapter"], r["candidate_version"]): r for r in rows}


def version_rows(artifacts: Artifacts, decisions: dict[tuple[str, int], Row]) -> list[Row]:
    """One row per (adapter, version) in the registry, oldest version first."""
    live = artifacts.load_live()
    registry = artifacts.registry
    rows: list[Row] = []
    for adapter in registry.adapters():
        for version in registry.versions(adapter):
            manifest = registry.get(adapter, version).manifest
            recall = manifest.metrics.get("valid_recall10")
            parent = None if manifest.parent_version is None else f"{manifest.parent_adapter}@{manifest.parent_version}"
            decision = decisions.get((adapter, version), {})
            rows.append(
                {
                    "adapter": adapter,
                    "version": version,
                    "created": datetime.fromtimestamp(manifest.created_at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S"),
                    "valid_recall": None if recall is None else float(recall),
                    "parent": parent,
                    "live": "yes" if live.get(adapter) == version else "no",
                    "decision": decision.get("decision"),
                    "reason": decision.get("reason"),
                }
            )
    return rows


def _cell(value: object) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def rollback_command(args: argparse.Namespace) -> int:
    artifacts = live_artifacts(args.store)
    artifacts.check_version(args.adapter, args.version)  # a mistake is refused before the store is opened
    with Store.open(args.store, create=False) as store:
        key = run_key(store, args.adapter, args.version)
        previous = artifacts.rollback(args.adapter, args.version)
        closed = artifacts.closed_slices()
        manifest = artifacts.registry.get(args.adapter, args.version).manifest
        decision = PromotionDecision(
            slice=closed - 1,
            adapter=args.adapter,
            region_id=FALLBACK if manifest.region_id is None else manifest.region_id,
            method=str(key["method"]),
            candidate_version=args.version,
            previous_version=previous,
            candidate_recall=None,
            previous_recall=None,
            max_regression=None,
            decision=ROLLED_BACK,
            reason=f"raie adapters rollback: version {_version(previous)} -> {args.version}",
            at_ms=int(time.time() * 1000),
        )
        append_promotion(store, key | {"slice": decision.slice}, promotion_row(decision))
    print(f"{args.adapter}: version {_version(previous)} -> {args.version} (live)")
    print(f"the next slice continues from it; recorded in table {PROMOTIONS_TABLE}, slice {decision.slice}")
    return 0


def _version(version: int | None) -> str:
    return "none" if version is None else str(version)


def run_key(store: Store, adapter: str, version: int) -> dict[str, object]:
    """The (run, method, seed) whose rows recorded ``adapter`` (its ``version`` first): the
    rollback row joins them."""
    found = store.query(
        "SELECT run_id, method, seed FROM adapters WHERE adapter = ? ORDER BY version = ? DESC, created_at_ms DESC",
        [adapter, version],
    ).to_pylist()
    if not found:
        raise ConfigError(
            "--store",
            f"no run in {store.root} recorded adapter {adapter!r} (table adapters), so the rollback has no run "
            "to be recorded under",
            "pass the store the stream writes its rows to",
        )
    return dict(found[0])


def append_promotion(store: Store, key: dict[str, object], row: Row) -> None:
    """Add ``row`` to the ``promotions`` partition at ``key``, keeping the rows already there."""
    table = store.read(PROMOTIONS_TABLE)
    kept = [r for r in table.to_pylist() if all(r[column] == value for column, value in key.items())]
    store.replace_partition(PROMOTIONS_TABLE, key, [*kept, row])

"""``raie adapters list`` and ``raie adapters rollback`` on a small stream store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from raie.adapters import AdapterManifest
from raie.backbones.lora import GLOBAL_ADAPTER
from raie.cli.main import USAGE_ERROR, main
from raie.online.artifacts import STATE_FILE, Artifacts
from raie.online.rows import adapter_row, promotion_row
from raie.online.slice_training import PROMOTED, REJECTED, PromotionDecision
from raie.regions.router import FALLBACK
from raie.store import Store
from raie.store.files import atomic_write_json

pytestmark = pytest.mark.unit

REJECTION = "valid R@10 0.0812 < 0.0901 - 0.0000"
KEY = {"run_id": "stream-test", "method": "raie", "seed": 0}


def decision(slice_index: int, version: int, previous: int | None, verdict: str, reason: str) -> PromotionDecision:
    return PromotionDecision(
        slice_index, GLOBAL_ADAPTER, FALLBACK, "raie", version, previous, 0.08, 0.09, 0.0, verdict, reason, slice_index
    )


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """A stream store after slice 2: global version 1 serves, version 2 was rejected by the guard."""
    artifacts = Artifacts.in_store(tmp_path)
    with Store.open(tmp_path) as store:
        for version in (1, 2):
            manifest = AdapterManifest(
                GLOBAL_ADAPTER,
                None,
                version,
                version,
                None if version == 1 else 1,
                None if version == 1 else GLOBAL_ADAPTER,
                10,
                5,
                3,
                {"valid_recall10": 0.05 * version},
                "",
                1_700_000_000_000,
            )
            published = artifacts.registry.publish(manifest, {"lora_B": torch.full((2, 2), float(version))})
            store.replace_partition("adapters", KEY | {"slice": version}, [adapter_row(published.manifest)])
        store.replace_partition("promotions", KEY | {"slice": 1}, [promotion_row(decision(1, 1, None, PROMOTED, "ok"))])
        rejected = promotion_row(decision(2, 2, 1, REJECTED, REJECTION))
        store.replace_partition("promotions", KEY | {"slice": 2}, [rejected])
    atomic_write_json(artifacts.root / STATE_FILE, {"closed_slices": 3, "live": {GLOBAL_ADAPTER: 1}})
    return tmp_path


def test_list_shows_the_live_flag_and_the_rejection_reason(store_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["adapters", "list", "--store", str(store_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["adapter", "version", "created", "valid_recall", "parent", "live", "decision", "reason"]
    first, second = lines[2], lines[3]
    assert first.startswith("global") and " yes " in first and "promoted" in first
    assert " no " in second and "global@1" in second and second.endswith(f"rejected  {REJECTION}")
    assert main(["adapters", "list", "--store", str(store_dir), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["version"], r["live"], r["decision"]) for r in rows] == [(1, "yes", "promoted"), (2, "no", "rejected")]
    assert rows[1] | {"created": None} == {
        "adapter": GLOBAL_ADAPTER,
        "version": 2,
        "created": None,
        "valid_recall": 0.1,
        "parent": "global@1",
        "live": "no",
        "decision": "rejected",
        "reason": REJECTION,
    }


def test_rollback_makes_a_version_live_and_records_it(store_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["adapters", "rollback", "--store", str(store_dir), "--adapter", GLOBAL_ADAPTER, "--to", "2"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "global: version 1 -> 2 (live)"
    assert Artifacts.in_store(store_dir).load_live() == {GLOBAL_ADAPTER: 2}
    with Store.open(store_dir, read_only=True) as store:
        rows = store.query("SELECT * FROM promotions WHERE slice = 2 ORDER BY at_ms").to_pylist()
    assert [r["decision"] for r in rows] == ["rejected", "rolled_back"], "the guard's row is kept"
    rolled = rows[1]
    assert (rolled["candidate_version"], rolled["previous_version"], rolled["method"]) == (2, 1, "raie")
    assert rolled["max_regression"] is None and rolled["candidate_recall"] is None
    assert main(["adapters", "list", "--store", str(store_dir), "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["live"], r["decision"]) for r in listed] == [("no", "promoted"), ("yes", "rolled_back")]


def test_rollback_to_an_unknown_version_is_refused_naming_the_versions(
    store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["adapters", "rollback", "--store", str(store_dir), "--adapter", GLOBAL_ADAPTER, "--to", "9"])
    assert status == USAGE_ERROR
    assert "no committed version 9 (3 slices closed); its versions: 1, 2" in capsys.readouterr().err
    assert main(["adapters", "rollback", "--store", str(store_dir), "--adapter", "region_4", "--to", "1"]) == 2
    assert "no adapter 'region_4'" in capsys.readouterr().err
    assert Artifacts.in_store(store_dir).load_live() == {GLOBAL_ADAPTER: 1}
    with Store.open(store_dir, read_only=True) as store:
        assert store.query("SELECT count(*) AS n FROM promotions").to_pylist() == [{"n": 2}]


def test_a_directory_without_a_stream_is_refused_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["adapters", "list", "--store", str(tmp_path / "nowhere")]) == USAGE_ERROR
    assert "is not a raie store" in capsys.readouterr().err
    with Store.open(tmp_path / "offline"):
        pass  # a store without artifacts, as raie experiment leaves one
    assert main(["adapters", "rollback", "--store", str(tmp_path / "offline"), "--adapter", "global", "--to", "1"]) == 2
    err = capsys.readouterr().err
    assert "no committed slice (artifacts/state.json)" in err and "pass a stream's store" in err

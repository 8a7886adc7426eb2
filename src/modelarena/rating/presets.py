"""Rating settings (RatingConfig) and the presets that reproduce published leaderboards.

A preset is a RatingConfig; explicit settings replace the preset's with dataclasses.replace.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modelarena.rating.errors import RatingError

METHODS = ("bt", "elo")
TIES = ("half", "drop", "davidson", "rao-kupper")
INTERVALS = ("sandwich", "bootstrap", "none")


@dataclass(frozen=True)
class Anchor:
    """Fix `model`'s rating to `rating`; with `if_present`, only when the model was rated."""

    model: str
    rating: float
    if_present: bool = False


@dataclass(frozen=True)
class RatingConfig:
    """Everything that decides a leaderboard besides the battles.

    Ratings are `init + scale·log_base(strength)`; `l2` adds l2·Σ w² with w = (R − init)/scale.
    `ci` defaults to sandwich for Bradley–Terry and bootstrap for Elo. `k` is Elo's K.
    """

    method: str = "bt"
    ties: str = "half"
    l2: float = 0.0
    reweight: bool = False
    style_control: bool = False
    anchor: Anchor | None = None
    ci: str | None = None
    rounds: int = 100
    level: float = 0.95
    seed: int = 0
    k: float = 4.0
    base: float = 10.0
    scale: float = 400.0
    init: float = 1000.0
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        _choice("method", self.method, METHODS)
        _choice("ties", self.ties, TIES)
        if self.ci is None:
            object.__setattr__(self, "ci", "sandwich" if self.method == "bt" else "bootstrap")
        _choice("ci", self.ci, INTERVALS)
        if self.method == "elo":
            if self.ci == "sandwich":
                raise RatingError(
                    "sandwich intervals need the Bradley–Terry model; with --method elo use "
                    "--ci bootstrap or --ci none"
                )
            if self.style_control or self.ties != "half" or self.l2 or self.reweight:
                raise RatingError(
                    "online Elo scores ties as ½ and has no style control, penalty or "
                    "reweighting; use --method bt for those"
                )
        if self.l2 < 0:
            raise RatingError("the L2 penalty must be 0 or more")
        if self.rounds < 1:
            raise RatingError("the number of bootstrap rounds must be at least 1")
        if not 0 < self.level < 1:
            raise RatingError("the interval level must be between 0 and 1, e.g. 0.95")
        if self.base <= 1 or self.scale <= 0 or self.k <= 0:
            raise RatingError("base must exceed 1, and scale and K must be positive")


def _choice(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise RatingError(f"unknown {name} {value!r}; use one of {', '.join(allowed)}")


PRESETS: dict[str, RatingConfig] = {
    # FastChat's leaderboard from 2024 (compute_bt + compute_bootstrap_bt): unpenalised BT
    # with ties as ½, Mixtral-8x7B-Instruct anchored at 1114, 100 multinomial bootstrap rounds.
    "fastchat-2024": RatingConfig(
        name="fastchat-2024",
        ties="half",
        l2=0.0,
        anchor=Anchor("mixtral-8x7b-instruct-v0.1", 1114.0, if_present=True),
        ci="bootstrap",
        rounds=100,
    ),
    # FastChat's first BT leaderboard (Dec 2023): scikit-learn LogisticRegression with its
    # default C=1 over battles entered twice, i.e. Σ ℓ½ + 0.25·Σ w²; llama-13b at 800 when
    # rated, as that code did; intervals from 100 bootstrap resamples of the battles.
    "fastchat-2023-12": RatingConfig(
        name="fastchat-2023-12",
        ties="half",
        l2=0.25,
        anchor=Anchor("llama-13b", 800.0, if_present=True),
        ci="bootstrap",
        rounds=100,
    ),
    # LMArena since July 2025 (arena-rank): unpenalised BT with sandwich (robust) intervals.
    "lmarena-2025": RatingConfig(name="lmarena-2025", ties="half", l2=0.0, ci="sandwich"),
}


def preset(name: str) -> RatingConfig:
    """The preset called `name`, or RatingError listing the presets."""
    if name not in PRESETS:
        raise RatingError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return PRESETS[name]

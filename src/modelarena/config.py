"""Settings: one object, read from a YAML file and `MODELARENA_*` environment variables.

Every default works offline on a laptop: SQLite in the data directory, the two bundled
models (`defaults.yaml`), no API keys on loopback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULTS_FILE = Path(__file__).with_name("defaults.yaml")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _xdg(var: str, fallback: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / fallback) / "modelarena"


class SamplingDefaults(BaseModel):
    """Per-model sampling defaults; a request's own values win over these."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repetition_penalty: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    max_tokens: int | None = None


class ModelConfig(BaseModel):
    """One served model: where it comes from, how to run it, and what to show about it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
    engine: Literal["llamacpp", "openai"] = "llamacpp"

    # Metadata shown in /v1/models, the arena and the leaderboard.
    display_name: str | None = None
    organization: str | None = None
    license: str | None = None
    parameters: int | None = Field(None, description="parameter count")
    context_length: int | None = Field(None, ge=16)
    vision: bool = False
    description: str | None = None
    url: str | None = None

    # llamacpp: a GGUF file. `path` is a file path, `package:MODULE/FILE` (a file inside
    # an installed Python package) or `assemble:MODULE` (a package whose `assemble(path)`
    # writes the GGUF into the cache directory once).
    path: str | None = None
    lora_path: str | None = Field(
        None, description="a LoRA adapter GGUF applied to the weights in `path`"
    )
    chat_template: str | None = Field(None, description="Jinja template; else the GGUF's")
    system_prompt: str | None = Field(None, description="used when a chat has none")
    stop: list[str] = Field(default_factory=list, description="extra stop strings")
    sampling: SamplingDefaults = Field(default_factory=SamplingDefaults)
    parallel: int = Field(8, ge=1, le=64, description="sequences decoded together")
    batch_size: int = Field(512, ge=16, description="tokens per decode step at most")
    prefix_cache_tokens: int = Field(
        0,
        ge=0,
        description="tokens of finished sequences (prompts and answers) kept in idle "
        "slots, so that a prompt starting the same way (a chat's next turn, a shared system "
        "prompt) skips them; 0: no prefix caching. Turns llama.cpp's flash attention off",
    )
    threads: int | None = Field(None, ge=1)
    embeddings: bool = True
    max_embedding_tokens: int = Field(
        8192, ge=1, description="tokens one embeddings request may hold in all its inputs"
    )

    # openai: any OpenAI-compatible upstream.
    base_url: str | None = None
    api_key_env: str | None = Field(None, description="environment variable holding the key")
    headers: dict[str, str] = Field(default_factory=dict)
    upstream_model: str | None = Field(None, description="the model name the upstream knows")
    timeout_s: float = Field(600.0, gt=0)
    supports_tools: bool = True

    @model_validator(mode="after")
    def _check_engine_fields(self) -> ModelConfig:
        if self.engine == "llamacpp" and not self.path:
            raise ValueError(f"model '{self.name}': engine llamacpp needs `path` (a GGUF file)")
        if self.engine == "openai" and not self.base_url:
            raise ValueError(f"model '{self.name}': engine openai needs `base_url`")
        if self.batch_size < self.parallel:
            raise ValueError(
                f"model '{self.name}': batch_size ({self.batch_size}) must be at "
                f"least parallel ({self.parallel}), one token per sequence a step"
            )
        return self

    def public_metadata(self) -> dict[str, Any]:
        """The metadata a client may see (no paths, URLs of upstreams or secrets)."""
        return {
            "display_name": self.display_name or self.name,
            "organization": self.organization,
            "license": self.license,
            "parameters": self.parameters,
            "context_length": self.context_length,
            "vision": self.vision,
            "description": self.description,
            "url": self.url,
        }


class TopicSettings(BaseModel):
    """The leaderboard of a topic: votes weighted by how close their prompts are to it."""

    model_config = ConfigDict(extra="forbid")

    embedding_model: str = Field(
        "smollm2-135m-instruct",
        description="served model whose embeddings compare prompts (any configured model "
        "that serves /v1/embeddings, an OpenAI-compatible upstream included)",
    )
    kernel: Literal["exp", "top-k"] = Field(
        "exp", description="exp: weight exp((cos − 1)/temperature); top-k: the k closest only"
    )
    temperature: float = Field(0.2, gt=0, description="width of the exp kernel, in cosine")
    top_k: int = Field(500, ge=1, description="battles kept by the top-k kernel")
    max_battles: int = Field(20_000, ge=1, description="the latest votes considered")
    min_effective_votes: float = Field(
        30.0, ge=1, description="refuse a topic whose weighted votes are worth fewer than this"
    )


class ArenaSettings(BaseModel):
    """The arena: which models battle and how often, limits, and the live leaderboard."""

    model_config = ConfigDict(extra="forbid")

    models: list[str] | None = Field(None, description="models that battle; None: all")
    sampling: Literal["weighted", "active"] = "weighted"
    weights: dict[str, float] = Field(default_factory=dict, description="relative, > 0")
    boost: dict[str, float] = Field(default_factory=dict, description="weight multipliers")
    targets: dict[str, list[str]] = Field(
        default_factory=dict, description="a model here battles only these opponents"
    )
    disabled: list[str] = Field(default_factory=list, description="models out of service")
    explore: float = Field(
        0.1, ge=0, le=1, description="active sampling: share of pairs drawn by weight alone"
    )
    max_tokens: int = Field(512, ge=1, description="answer length in battles")
    temperature: float = Field(0.7, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_prompt_chars: int = Field(8000, ge=1)
    max_turns: int = Field(8, ge=1)
    image_max_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    answer_timeout_s: float = Field(180.0, gt=0)
    visitor_rpm: int = Field(20, ge=0, description="turns per minute per visitor; 0 = off")
    ip_rpm: int = Field(60, ge=0, description="turns per minute per IP; 0 = off")
    blocked_keywords: list[str] = Field(default_factory=list)
    moderation: str | None = Field(None, description="module:function replacing the keywords")
    admin_token: str | None = Field(None, description="bearer token for /api/admin")
    ip_salt: str | None = Field(
        None, description="salt of IP hashes; default: a random one kept in data_dir"
    )
    leaderboard_interval_s: float = Field(60.0, gt=0, description="refit at least this often")
    leaderboard_every_votes: int = Field(
        1, ge=1, description="refit early after this many new votes"
    )
    leaderboard_min_gap_s: float = Field(
        2.0, ge=0, description="but never sooner than this after the last fit began"
    )
    leaderboard_cpu_share: float = Field(
        0.25,
        gt=0,
        le=1,
        description="nor sooner than the last fit's duration divided by this: the most of "
        "one core that fits take under a stream of votes",
    )
    leaderboard_preliminary_votes: int = Field(
        300, ge=0, description="a rating with fewer votes is marked preliminary"
    )
    leaderboard_preliminary_interval: float = Field(
        40.0,
        gt=0,
        description="so is one whose 95% interval reaches further than ± this many points",
    )
    newcomer_boost: float = Field(
        4.0, ge=1, description="weight multiplier of a model whose rating is not settled yet"
    )
    newcomer_interval: float = Field(
        25.0,
        gt=0,
        description="a rating is settled once its 95% interval is within ± this many points",
    )
    newcomer_votes: int = Field(
        1000, ge=0, description="or once the model has this many votes; 0: no boost"
    )
    topic: TopicSettings = Field(
        default_factory=TopicSettings, description="the leaderboard of a visitor's topic"
    )
    personal_board_min_votes: int = Field(
        10, ge=1, description="a visitor's own leaderboard shows from this many blind votes"
    )
    personal_board_l2: float = Field(
        0.5,
        ge=0,
        description="the L2 penalty of a visitor's own fit: keeps a few one-sided votes finite",
    )

    @field_validator("weights", "boost")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        bad = sorted(name for name, weight in value.items() if not weight > 0)
        if bad:
            raise ValueError(f"weights must be > 0; not so for: {', '.join(bad)}")
        return value


class Settings(BaseSettings):
    """Everything configurable, with offline defaults. Nested env: MODELARENA_A__B."""

    model_config = SettingsConfigDict(
        env_prefix="MODELARENA_", env_nested_delimiter="__", extra="forbid"
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path = Field(default_factory=lambda: _xdg("XDG_DATA_HOME", ".local/share"))
    cache_dir: Path = Field(default_factory=lambda: _xdg("XDG_CACHE_HOME", ".cache"))
    db_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in data_dir")

    models: list[ModelConfig] = Field(default_factory=list)
    include_default_models: bool = True

    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="plain keys accepted; env: comma-separated"
    )
    auth_required: bool | None = Field(
        None, description="None: required unless bound to loopback with no keys defined"
    )
    rate_limit_rpm: int = Field(0, ge=0, description="requests per minute per key; 0 = off")

    redis_url: str | None = None
    redis_prefix: str = Field("modelarena", description="key namespace inside Redis")
    worker_secret: str | None = None
    worker_ttl_s: float = Field(15.0, gt=0, description="drop a worker after this silence")
    health_interval_s: float = Field(10.0, gt=0)

    allowed_hosts: Annotated[list[str] | None, NoDecode] = Field(
        None,
        description="names a request's Host may give (`*.example.org` allowed); "
        "None: the loopback names when bound to loopback, any name otherwise",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="addresses of reverse proxies whose "
        "X-Forwarded-For/-Proto are believed; none: the headers are ignored",
    )
    max_body_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, description="largest request body of the /v1 API"
    )
    metrics_token: str | None = Field(
        None,
        description="bearer token /metrics requires; "
        "with none, /metrics is public and shows no arena "
        "traffic per model",
    )
    secret_key: str | None = Field(
        None,
        description="Fernet key that encrypts upstream API keys stored in the model "
        "registry; give it in the environment (MODELARENA_SECRET_KEY), not in a file",
    )
    models_poll_s: float = Field(
        2.0, gt=0, description="how often a server checks the model registry for changes"
    )
    arena: ArenaSettings = Field(default_factory=ArenaSettings)

    @field_validator("api_keys", "allowed_hosts", "trusted_proxies", mode="before")
    @classmethod
    def _split_lists(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @model_validator(mode="after")
    def _merge_default_models(self) -> Settings:
        if self.include_default_models:
            own = {m.name for m in self.models}
            defaults = [m for m in load_default_models() if m.name not in own]
            self.models = defaults + self.models
        names = [m.name for m in self.models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique; repeated: {', '.join(duplicates)}")
        return self

    @property
    def host_names(self) -> list[str]:
        """The names a request's Host may give (`*`: any)."""
        if self.allowed_hosts is not None:
            return self.allowed_hosts
        return list(LOOPBACK) if self.host in LOOPBACK else ["*"]

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'modelarena.db'}"

    def model(self, name: str) -> ModelConfig | None:
        return next((m for m in self.models if m.name == name), None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings merges file < environment < flags itself; see there.
        return (init_settings,)


def load_default_models() -> list[ModelConfig]:
    data = yaml.safe_load(DEFAULTS_FILE.read_text())
    return [ModelConfig(**m) for m in data["models"]]


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Settings from a YAML file, then `MODELARENA_*` variables, then explicit overrides.

    `config_file` defaults to $MODELARENA_CONFIG when set. Overrides that are None are
    ignored, so CLI options can be passed straight through.
    """
    config_file = config_file or os.environ.get("MODELARENA_CONFIG")
    values: dict[str, Any] = {}
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise ValueError(f"config file not found: {path}")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"config file {path} must hold a mapping at the top level")
        values.update(loaded)
    values.update(EnvSettingsSource(Settings)())
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)

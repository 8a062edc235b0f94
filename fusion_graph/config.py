"""Configuration of a fusion: the pool, the judge and the mode.

Every invalid input raises :class:`~fusion_graph.errors.ConfigError`, which names the field and says
how to fix it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, cast

from langchain_core.language_models import BaseChatModel
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from fusion_graph.calibration import Calibration, load_calibration
from fusion_graph.errors import ConfigError

__all__ = ["FusionConfig", "Judge", "Member", "Mode", "ModelSpec", "load_config"]

Mode = Literal["best-of", "merge", "debate", "vote"]
MODES: tuple[str, ...] = ("best-of", "merge", "debate", "vote")
AnswerFormatName = Literal["auto", "number", "choice", "tool_call", "text", "json"]
ANSWER_FORMATS: tuple[str, ...] = ("auto", "number", "choice", "tool_call", "text")
KNOWN_PROVIDERS: tuple[str, ...] = (
    "openai",
    "openrouter",
    "anthropic",
    "mistral",
    "ollama",
    "openai-compatible",
    "vllm",
    "llamacpp",
    "lmstudio",
    "local",
    "fake",
)
_NAME_RE = re.compile(r"[^A-Za-z0-9_.-]+")


class ModelSpec(BaseModel):
    """A chat model and how to reach it: the part common to members and judges."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)

    model: str | BaseChatModel
    """A spec string ``provider:model`` (e.g. ``"mistral:mistral-small-latest"``) or a chat model."""
    name: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^\S(.*\S)?$")
    """A unique name in the pool; derived from the model when not given."""
    base_url: str | None = None
    """The server's base URL, for OpenAI-compatible servers (vLLM, llama.cpp server, LM Studio)."""
    api_key: SecretStr | None = None
    """The API key. When absent it comes from ``api_key_env``, else from the provider's environment
    variable (``OPENAI_API_KEY``, …), but that one only when the model talks to the provider's own API
    host: a ``base_url`` elsewhere never receives it."""
    api_key_env: str | None = None
    """The environment variable that holds the API key (e.g. ``"VLLM_API_KEY"``), read when the model
    is resolved: how a server at a custom ``base_url`` gets a key without writing it in the config."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Extra keyword arguments for the provider's chat model (temperature, max_tokens, …)."""
    timeout: float | None = Field(default=120.0, gt=0)
    """Seconds one answer may take before the member counts as failed (``None``: no limit)."""
    price_in: float = Field(default=0.0, ge=0)
    """US dollars per million input tokens."""
    price_out: float = Field(default=0.0, ge=0)
    """US dollars per million output tokens."""
    context_window: int | None = Field(default=None, gt=0)
    """The model's context window in tokens, when known."""

    def __init__(self, model: str | BaseChatModel | None = None, /, **data: Any) -> None:
        """Create a spec; the model may be given positionally: ``Member("openai:gpt-4o-mini")``."""
        if model is not None:
            data["model"] = model
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _config_error(exc) from exc

    @field_validator("model", mode="before")
    @classmethod
    def _model_kind(cls, value: Any) -> Any:
        # before pydantic tries to build the abstract BaseChatModel out of a mapping (a TypeError)
        if isinstance(value, dict):
            raise ValueError("must be a spec string 'provider:model' or a chat model instance, not a table")
        return value

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str | BaseChatModel) -> str | BaseChatModel:
        if isinstance(value, str):
            provider, sep, rest = value.partition(":")
            if not sep or not rest.strip():
                raise ValueError(
                    f"{value!r} is not a model spec; write 'provider:model', e.g. "
                    "'openai:gpt-4o-mini' (providers: " + ", ".join(KNOWN_PROVIDERS) + ")"
                )
            if provider not in KNOWN_PROVIDERS:
                raise ValueError(
                    f"unknown provider prefix {provider!r}; use one of: " + ", ".join(KNOWN_PROVIDERS)
                )
        return value

    @model_validator(mode="after")
    def _check_api_key_env(self) -> ModelSpec:
        name = self.api_key_env
        if name is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ConfigError(
                "api_key_env",
                f"{name!r} is not an environment variable name",
                "name the variable that holds the key, e.g. api_key_env = 'VLLM_API_KEY' "
                "(a key itself goes in api_key)",
            )
        if name is not None and self.api_key is not None:
            raise ConfigError(
                "api_key_env",
                "both api_key and api_key_env are set",
                "keep one; api_key_env keeps the key out of the config",
            )
        return self

    @property
    def provider(self) -> str | None:
        """The provider prefix of a spec string, or ``None`` for a model instance."""
        return self.model.partition(":")[0] if isinstance(self.model, str) else None

    @property
    def label(self) -> str:
        """The spec as text: the spec string, or the instance's class name."""
        if isinstance(self.model, str):
            return self.model
        return type(self.model).__name__

    def default_name(self) -> str:
        """The name used when none is given: the model part of the spec, made safe."""
        if isinstance(self.model, str):
            base = self.model.partition(":")[2].rsplit("/", 1)[-1]
        else:
            base = getattr(self.model, "model_name", None) or getattr(self.model, "model", None)
            base = base if isinstance(base, str) else type(self.model).__name__
        return _NAME_RE.sub("-", base).strip("-") or "member"

    def same_model_as(self, other: ModelSpec) -> bool:
        """Whether both specs point at the same model on the same server."""
        if isinstance(self.model, str) and isinstance(other.model, str):
            return self.model == other.model and self.base_url == other.base_url
        return self.model is other.model


class Member(ModelSpec):
    """A member of the pool: one chat model that answers the prompt."""

    tool_choice: str | None = None
    """Force the first step to call a tool: ``"any"`` or a tool's name. Tiny models call tools
    reliably only when forced; after the forced call the member answers without tools."""
    samples: int = Field(default=1, ge=1, le=32)
    """Self-consistency: draw this many answers from the model, at its own temperature. With more
    than one they are candidates ``name#1`` … ``name#k``, each counted in usage, and their agreement
    feeds the decision. Give the model a temperature above 0 (greedy samples are all alike)."""
    greedy_first: bool = False
    """With ``samples`` above 1: the first sample (``name#1``) decodes greedily (temperature 0), the
    model's own single best answer; the others sample at the member's temperature. With
    ``FusionConfig(mode="vote", tie_break="member:name")`` the samples then overrule the greedy
    answer only when a majority of them agree on another one."""

    def __init__(self, model: str | BaseChatModel | None = None, /, **data: Any) -> None:
        """Create a member; the model may be given positionally: ``Member("openai:gpt-4o-mini")``."""
        super().__init__(model, **data)

    @model_validator(mode="after")
    def _check_greedy_first(self) -> Member:
        if self.greedy_first and self.samples < 2:
            raise ValueError(
                "greedy_first: a single answer has no first sample to make greedy; set samples=2 or "
                "more, or leave greedy_first out (give the member temperature 0 for one greedy answer)"
            )
        return self

    @field_validator("name")
    @classmethod
    def _no_sample_mark(cls, value: str | None) -> str | None:
        if value is not None and "#" in value:
            raise ValueError(
                f"{value!r} contains '#', which marks samples (name#1); choose a name without it"
            )
        return value

    def sample_names(self) -> list[str]:
        """The candidate names this member answers under: its name, or ``name#1`` … ``name#k``."""
        name = self.name or self.default_name()
        return [name] if self.samples == 1 else [f"{name}#{i + 1}" for i in range(self.samples)]


class Judge(ModelSpec):
    """The model that fuses the candidates into one answer."""

    fallbacks: list[Judge] = Field(default_factory=list)
    """Judges tried in order when this one fails."""

    def __init__(self, model: str | BaseChatModel | None = None, /, **data: Any) -> None:
        """Create a judge; the model may be given positionally: ``Judge("openai:gpt-4o")``."""
        super().__init__(model, **data)

    @field_validator("fallbacks", mode="before")
    @classmethod
    def _coerce_fallbacks(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [_as_spec_data(item) for item in value]
        return value


class FusionConfig(BaseModel):
    """A fusion: who answers, who judges, and how.

    Example:
        >>> config = FusionConfig(
        ...     pool=[Member("fake:yes"), Member("fake:no")],
        ...     judge=Judge("fake:judge"),
        ...     mode="best-of",
        ... )
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)

    pool: list[Member]
    """The members that answer in parallel (at least one)."""
    judge: Judge | None = None
    """The judge; when absent, the first member judges (and the result says so)."""
    mode: Mode = "best-of"
    """``best-of`` picks the strongest answer, ``merge`` synthesises one, ``debate`` revises first,
    ``vote`` takes the most common final answer (the judge only breaks ties)."""
    rounds: int = Field(default=1, ge=1, le=20)
    """Debate only: how many revision rounds after the first answers."""
    consensus: float | None = Field(default=0.9, gt=0, le=1)
    """Debate only: stop early when every pair of answers is at least this similar (``None``: never)."""
    shuffle: bool = True
    """Show the candidates to the judge in a seeded shuffled order."""
    seed: int = 0
    """Seed of the shuffle (mixed with the prompt, so each prompt gets its own order)."""
    min_answers: int | None = Field(default=None, ge=1)
    """Quorum: how many members must answer a round (default: one). With ``deadline``, the judge
    starts once the quorum is in and the deadline has passed, and stragglers are cancelled."""
    deadline: float | None = Field(default=None, gt=0)
    """Seconds after a round starts from which, once the quorum is in, stragglers are cancelled."""
    budget_usd: float | None = Field(default=None, gt=0)
    """A hard cap on the cost of one fusion: no call starts whose worst-case cost would cross it."""
    judge_free_fallback: bool = True
    """When the judge and every fallback fail, pick the most consistent answer instead of raising."""
    max_tool_steps: int = Field(default=8, ge=1, le=100)
    """How many model → tools → model steps a member may take before it must answer."""
    answer_format: AnswerFormatName | Callable[[str], str | None] = "auto"
    """How a candidate's final answer is read, to compare answers: ``auto`` (tool calls, an explicit
    final answer, or an answer that is just a number, letter or yes/no; free text is never guessed),
    ``number`` (else the last number), ``choice`` (a letter), ``tool_call``, ``text`` (never compared),
    ``json`` (a structured answer, field by field; runs with a ``response_format`` always use it), or a
    callable ``text -> normalised answer | None`` (an exception becomes a verdict issue)."""
    majority_policy: Literal["weighted", "majority", "judge", "reask"] = "weighted"
    """best-of and debate: how the judge's pick and the members' answers are weighed
    (docs/decisions.md). ``weighted`` (default): every answer gets its voters' log-odds weights; the
    judge's pick counts only if it holds when the order is reversed (asked only when it disagrees
    with the members' leading answer); without labels no single voice overrules more than two
    thirds of the final answers. ``majority``: a strict majority of all final answers always wins;
    ``judge``: the judge's pick always stands; ``reask``: the judge is asked once more with the
    disagreement named, then the majority wins if it still disagrees. ``result.decision`` records
    the inputs and why."""
    tie_break: str = "judge"
    """vote: who decides when no final answer has two votes. ``judge`` (default) asks the judge;
    ``member:<name>`` takes that member's answer without asking the judge (its first sample, or the
    sample named ``name#k``): for a judge that cannot judge, or a member known to be the most
    reliable. The decision says so (``decided_by="vote:tie-break"``). Only ``vote`` has ties:
    best-of, merge and debate always ask the judge, so a config keeps its ``tie_break`` across
    ``replace(mode=…)``."""
    calibration: Calibration | None = None
    """Measured reliabilities (``fusion eval --calibration-out``): a :class:`Calibration`, a dict or
    a JSON file path. They weight the votes and order the judge-free fallback; with them, the
    two-thirds cap is lifted."""
    task_tag: str | None = None
    """Which task this fusion runs (e.g. ``"gsm8k"``): picks the calibration entry and the history
    of reliabilities."""
    learn_reliability: bool = False
    """Learn the voices' reliabilities from history, without labels (agreement with the final
    answer; whether the judge's pick holds under the reversed order), in the graph's LangGraph store
    (``Fusion(store=…)``; an ``InMemoryStore`` by default). Estimates shrink to the prior; see
    docs/decisions.md for what history cannot learn."""
    merge_policy: Literal["weighted", "keep", "reask", "majority"] = "weighted"
    """merge: how the merged answer's final answer is weighed against the members'. ``weighted``
    (default): as ``majority_policy="weighted"``, the merged answer being the judge's vote (checked by
    a reversed-order merge when it disagrees with the members' leading answer); ``keep`` it
    (flagged); ``reask`` the judge once when a strict majority disagrees; or the ``majority``'s answer."""
    judge_swap: bool = False
    """best-of (and debate): judge twice, the second time in reversed order, against position bias.
    Both calls count in usage and cost."""
    scouts: list[str] | None = None
    """Members (by name) that answer first; when they agree the fusion returns without calling the
    rest of the pool (``escalate="disagree"``)."""
    escalate: Literal["disagree", "always"] = "disagree"
    """With scouts: run the full pool only when the scouts disagree, or always."""
    scout_agreement: float = Field(default=0.9, gt=0, le=1)
    """With scouts: how alike free-text answers (no extracted final answer) must be to agree."""

    def __init__(self, /, **data: Any) -> None:
        """Validate the configuration, raising :class:`ConfigError` on any invalid field."""
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _config_error(exc) from exc

    @field_validator("pool", mode="before")
    @classmethod
    def _coerce_pool(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [_as_spec_data(item) for item in value]
        return value

    @field_validator("judge", mode="before")
    @classmethod
    def _coerce_judge(cls, value: Any) -> Any:
        return _as_spec_data(value)

    @field_validator("calibration", mode="before")
    @classmethod
    def _load_calibration(cls, value: Any) -> Any:
        return None if value is None else load_calibration(value)

    @field_validator("mode", mode="before")
    @classmethod
    def _normalise_mode(cls, value: Any) -> Any:
        if isinstance(value, str):
            normal = value.strip().lower().replace("_", "-")
            normal = "best-of" if normal in ("bestof", "best") else normal
            if normal not in MODES:
                raise ValueError(f"unknown mode {value!r}; use one of: {', '.join(MODES)}")
            return normal
        return value

    @model_validator(mode="after")
    def _name_members(self) -> FusionConfig:
        if not self.pool:
            raise ValueError("pool: the pool is empty; add at least one Member('provider:model')")
        explicit: dict[str, int] = {}
        for index, member in enumerate(self.pool):
            if member.name is not None:
                if member.name in explicit:
                    raise ValueError(
                        f"pool[{index}].name: duplicate member name {member.name!r} "
                        f"(also pool[{explicit[member.name]}]); give each member a unique name"
                    )
                explicit[member.name] = index
        taken = set(explicit)
        named: list[Member] = []
        for member in self.pool:
            if member.name is None:
                base = member.default_name()
                name, n = base, 2
                while name in taken:
                    name, n = f"{base}-{n}", n + 1
                taken.add(name)
                member = member.model_copy(update={"name": name})
            named.append(member)
        object.__setattr__(self, "pool", named)
        return self

    def replace(self, **changes: Any) -> FusionConfig:
        """A copy with some fields changed, validated again: the one way to derive a config.

        Fields are copied one by one rather than through ``model_dump()``, because members may
        hold chat model instances. With no changes, the config itself is returned.

        Args:
            **changes: New values, by field name.

        Returns:
            The new config (every field counts as set in it), or ``self`` when ``changes`` is empty.

        Raises:
            ConfigError: A value is invalid or a name is not a field; ``field`` names it.

        Example:
            >>> debate = config.replace(mode="debate", rounds=2)
        """
        if not changes:
            return self
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        return type(self)(**{**fields, **changes})

    @field_validator("answer_format", mode="before")
    @classmethod
    def _check_answer_format(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in ANSWER_FORMATS:
            raise ValueError(
                f"unknown answer_format {value!r}; use one of: {', '.join(ANSWER_FORMATS)}, "
                "or a callable text -> answer"
            )
        if not isinstance(value, str) and not callable(value):
            raise ValueError(f"answer_format must be a name or a callable, not {type(value).__name__}")
        return value

    @model_validator(mode="after")
    def _check_evidence(self) -> FusionConfig:
        names = self.member_names
        if self.scouts is not None:
            if not self.scouts:
                raise ValueError("scouts: the list is empty; name at least one member, or leave it out")
            for i, scout in enumerate(self.scouts):
                if scout not in names:
                    raise ValueError(f"scouts[{i}]: no member is named {scout!r}; use one of {names}")
            if len(set(self.scouts)) != len(self.scouts):
                raise ValueError("scouts: a member is named twice; name each scout once")
            answers = sum(self.member(s).samples for s in self.scouts)
            if answers < 2:
                raise ValueError(
                    "scouts: one scout answer cannot agree with anything; name two scouts or give the "
                    "scout samples=2 or more"
                )
            if set(self.scouts) == set(names):
                raise ValueError(
                    "scouts: every member is a scout, so there is nobody to escalate to; "
                    "leave out at least one member"
                )
        if self.calibration is not None:
            self._check_calibration(self.calibration)
        if self.tie_break != "judge":
            self._check_tie_break()
        if self.judge_swap and sum(m.samples for m in self.pool) < 2:
            raise ValueError(
                "judge_swap: a single candidate has no order to swap; add a member or samples, "
                "or set judge_swap=False"
            )
        return self

    @model_validator(mode="after")
    def _check_limits(self) -> FusionConfig:
        answers = len(self.candidate_names)
        if self.min_answers is not None and self.min_answers > answers:
            raise ValueError(
                f"min_answers: a quorum of {self.min_answers} cannot be reached by {answers} "
                f"answers; use at most {answers}"
            )
        if self.budget_usd is not None:
            specs: list[tuple[str, ModelSpec]] = [(f"pool[{i}]", m) for i, m in enumerate(self.pool)]
            specs.append(("judge", self.effective_judge))
            for where, spec in specs:
                if spec.price_out > 0 and not isinstance(spec.params.get("max_tokens"), int):
                    raise ValueError(
                        f"{where}.params.max_tokens: budget_usd needs each priced model's max_tokens "
                        "to bound its cost; set params = {max_tokens = …}"
                    )
        return self

    def _check_tie_break(self) -> None:
        kind, _, name = self.tie_break.partition(":")
        if kind != "member" or not name:
            raise ValueError(
                f"tie_break: {self.tie_break!r} is neither 'judge' nor 'member:<name>'; use "
                f"'judge' or one of {[f'member:{n}' for n in self.member_names]}"
            )
        if name not in self.member_names and name not in self.candidate_names:
            raise ValueError(
                f"tie_break: no member or sample is named {name!r}; use one of {self.member_names}"
            )

    def tie_breaker(self) -> str | None:
        """The candidate that breaks a vote's tie (``tie_break="member:…"``), or ``None`` (the judge)."""
        if self.tie_break == "judge":
            return None
        name = self.tie_break.partition(":")[2]
        return name if name in self.candidate_names else self.member(name).sample_names()[0]

    def _check_calibration(self, calibration: Calibration) -> None:
        members = set(self.member_names) | set(self.candidate_names)
        judge = self.effective_judge
        judges = {judge.name or judge.label} | {f.name or f.label for f in judge.fallbacks}
        for i, entry in enumerate(calibration.entries):
            for name in entry.members:
                if name not in members:
                    raise ConfigError(
                        f"calibration.entries[{i}].members.{name}",
                        f"no member is named {name!r}",
                        f"use the pool's names {self.member_names}, or recalibrate this pool",
                    )
            for name in entry.judges:
                if name not in judges:
                    raise ConfigError(
                        f"calibration.entries[{i}].judges.{name}",
                        f"no judge is named {name!r}",
                        f"use one of {sorted(judges)}, or recalibrate this pool",
                    )

    @property
    def member_names(self) -> list[str]:
        """The members' names, in pool order."""
        return [cast(str, member.name) for member in self.pool]

    @property
    def candidate_names(self) -> list[str]:
        """The names candidates answer under, in pool order (``name#1`` … for sampled members)."""
        return [name for member in self.pool for name in member.sample_names()]

    def member(self, name: str) -> Member:
        """The member called ``name``.

        Raises:
            ConfigError: No member has that name.
        """
        for member in self.pool:
            if member.name == name:
                return member
        raise ConfigError("pool", f"no member is named {name!r}", f"use one of {self.member_names}")

    @property
    def effective_judge(self) -> Judge:
        """The judge, or the first member acting as judge when none is configured."""
        if self.judge is not None:
            return self.judge
        first = self.pool[0]
        return Judge(
            **first.model_dump(exclude={"model", "tool_choice", "samples", "greedy_first"}), model=first.model
        )

    def judge_member(self) -> str | None:
        """The name of the pool member that is also the judge, if any."""
        judge = self.effective_judge
        for member in self.pool:
            if member.same_model_as(judge):
                return member.name
        return None

    @classmethod
    def from_file(cls, path: str | Path) -> FusionConfig:
        """Load a configuration from a TOML or YAML file (a ``[tools]`` table is ignored here).

        Raises:
            ConfigError: The file is missing, unreadable, or holds an invalid configuration.
        """
        data = read_config_file(path)
        data.pop("tools", None)
        return cls(**data)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML or YAML configuration file into a dict.

    Raises:
        ConfigError: The file is missing, of an unknown kind, or does not parse.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError("config", f"no such file: {file}", "pass the path of a .toml or .yaml file")
    text = file.read_text(encoding="utf-8")
    try:
        if file.suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif file.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(
                "config", f"unknown file kind {file.suffix!r}", "use a .toml, .yaml or .yml file"
            )
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError("config", f"{file} does not parse: {exc}", "fix the file's syntax") from exc
    except Exception as exc:  # yaml.YAMLError, without importing yaml eagerly
        raise ConfigError("config", f"{file} does not parse: {exc}", "fix the file's syntax") from exc
    if not isinstance(data, dict):
        raise ConfigError("config", f"{file} must hold a table/mapping at the top level")
    return cast(dict[str, Any], data)


def load_config(path: str | Path) -> FusionConfig:
    """Load a :class:`FusionConfig` from a TOML or YAML file."""
    return FusionConfig.from_file(path)


def _as_spec_data(item: Any) -> Any:
    """Let a bare spec string or model stand for ``{"model": item}``."""
    return {"model": item} if isinstance(item, str | BaseChatModel) else item


def _config_error(exc: ValidationError) -> ConfigError:
    """Turn pydantic's first error into a ConfigError that names the field."""
    error = exc.errors()[0]
    field = ""
    for part in error["loc"]:
        if isinstance(part, int):
            field += f"[{part}]"
        else:
            field += f".{part}" if field else str(part)
    inner = (error.get("ctx") or {}).get("error")
    if isinstance(inner, ConfigError):
        if field and inner.field.startswith(field):
            joined = inner.field
        else:
            joined = f"{field}.{inner.field}" if field and not inner.field.startswith("[") else field
        return ConfigError(joined or inner.field, inner.problem, inner.fix)
    message = str(error["msg"]).removeprefix("Value error, ")
    named = re.match(r"^([A-Za-z_][\w.\[\]]*): (.*)$", message, re.DOTALL)
    if named and (not field or named.group(1).startswith(field)):
        field, message = named.group(1), named.group(2)
    if field.endswith(("[str]", ".str")) or "function-after" in field or "is-instance" in field:
        field = re.sub(r"(\.|\[)(str|function-after\[.*|is-instance\[.*)$", "", field)
    if error["type"] == "extra_forbidden" and error["loc"]:
        message = f"{str(error['loc'][-1])!r} is not a field"  # names it, even an empty or odd key
    fixes = {
        "missing": "add it",
        "extra_forbidden": "remove it or check its spelling",
        "greater_than_equal": "use a larger value",
        "less_than_equal": "use a smaller value",
        "greater_than": "use a larger value",
    }
    return ConfigError(field or "config", message, fixes.get(str(error["type"])))

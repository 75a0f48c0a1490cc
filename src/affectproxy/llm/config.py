"""Settings of the LLM layer: limits, retries, timeouts, repairs and price overrides per provider.

They come from a Python call (``ap.evaluate(..., llm={"gemini": {"rpm": 60}})``) or a study file's
``[llm.<provider>]`` tables; :meth:`LLMConfig.from_mapping` reads both shapes and rejects unknown keys with a
one-line error naming the closest valid key.

Examples:
    >>> cfg = LLMConfig.from_mapping({"max_in_flight": 8, "gemini": {"rpm": 60, "timeout": 30}})
    >>> cfg.provider("gemini").rpm, cfg.provider("openai").rpm
    (60.0, None)
    >>> LLMConfig.from_mapping({"gemini": {"rmp": 60}})
    Traceback (most recent call last):
    ...
    affectproxy.llm.config.LLMConfigError: llm.gemini: unknown setting 'rmp'; did you mean 'rpm'? ...
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import attrs

from affectproxy.errors import AffectProxyError
from affectproxy.llm.types import Price


class LLMConfigError(AffectProxyError, ValueError):
    """An ``llm`` setting is unknown or has a wrong value."""


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _price(model: str, value: Any) -> Price:
    if isinstance(value, Price):
        return value
    if not isinstance(value, Mapping):
        raise LLMConfigError(
            f"llm prices for {model!r} must be a table like {{input = {{text = 0.30, audio = 1.00}}, output = 2.50}}, "
            f"got {value!r}."
        )
    unknown = set(value) - {"input", "output", "cached_input", "batch_factor"}
    if unknown:
        raise LLMConfigError(f"llm prices for {model!r}: unknown field {sorted(unknown)[0]!r}; use input, output, "
                             "cached_input, batch_factor (USD per 1M tokens).")
    inp = value.get("input", {})
    if not isinstance(inp, Mapping):
        inp = {"text": float(inp)}
    return Price(
        input={str(k): float(v) for k, v in inp.items()},
        output=float(value.get("output", 0.0)),
        cached_input=_opt_float(value.get("cached_input")),
        batch_factor=float(value.get("batch_factor", 0.5)),
    )


def _prices(value: Mapping[str, Any] | None) -> dict[str, Price]:
    return {str(m): _price(str(m), p) for m, p in (value or {}).items()}


@attrs.frozen
class ProviderConfig:
    """The layer's settings for one provider (every model of it; limits apply per (provider, model)).

    Attributes:
        max_in_flight: requests in flight at once per model (default 16).
        rpm: requests per minute per model (default None: no limit; set it to your quota).
        tpm: tokens (input + expected output) per minute per model (default None: no limit).
        timeout: seconds one attempt may take before it counts as a timeout (default 120).
        max_retries: further attempts after a 429, a 5xx, a timeout or a dropped connection (default 6).
        backoff: the first wait in seconds when the service gives no Retry-After; doubles per attempt (default 1).
        backoff_max: the longest such wait (default 60 s).
        jitter: wait a random 50-100% of each backoff, so threads do not retry in lockstep (default True).
        max_wait: the longest Retry-After honoured; a longer one (a daily quota) fails the request at once with
            the wait in the message (default 600 s).
        repairs: how many times an answer that is not valid JSON for the schema is sent back with the error
            (default 2), before the segment is recorded as failed.
        prices: model id -> :class:`Price` (or a table ``{input = {text = .., audio = ..}, output = ..}``), USD per
            1M tokens; overrides the provider's shipped price table.
        api_key: the key (default: the provider's environment variables); never stored or logged.
        base_url: another endpoint (a proxy, a local server).
        api_version: the provider's REST API version, when it has several.
        keep_files: keep uploaded files after the run instead of deleting them (default False).
        options: further options for the provider's factory.
    """

    max_in_flight: int = attrs.field(default=16, converter=int)
    rpm: float | None = attrs.field(default=None, converter=_opt_float)
    tpm: float | None = attrs.field(default=None, converter=_opt_float)
    timeout: float = attrs.field(default=120.0, converter=float)
    max_retries: int = attrs.field(default=6, converter=int)
    backoff: float = attrs.field(default=1.0, converter=float)
    backoff_max: float = attrs.field(default=60.0, converter=float)
    jitter: bool = True
    max_wait: float = attrs.field(default=600.0, converter=float)
    repairs: int = attrs.field(default=2, converter=int)
    prices: Mapping[str, Price] = attrs.field(factory=dict, converter=_prices)
    api_key: str | None = attrs.field(default=None, repr=False)
    base_url: str | None = None
    api_version: str | None = None
    keep_files: bool = False
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)

    def __attrs_post_init__(self) -> None:
        for name in ("max_in_flight",):
            if getattr(self, name) < 1:
                raise LLMConfigError(f"llm setting {name} must be >= 1, got {getattr(self, name)}.")
        for name in ("max_retries", "repairs"):
            if getattr(self, name) < 0:
                raise LLMConfigError(f"llm setting {name} must be >= 0, got {getattr(self, name)}.")
        for name in ("rpm", "tpm", "timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise LLMConfigError(f"llm setting {name} must be > 0, got {value}.")

    def provider_options(self) -> dict[str, Any]:
        """The options handed to the provider's factory (only those that are set)."""
        out = dict(self.options)
        for name in ("api_key", "base_url", "api_version"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.keep_files:
            out["keep_files"] = True
        return out


_PROVIDER_KEYS = tuple(a.name for a in attrs.fields(ProviderConfig))


@attrs.frozen
class LLMConfig:
    """Settings of one :class:`~affectproxy.llm.layer.LLMLayer`.

    Attributes:
        max_in_flight: requests in flight at once over every provider and model (the engine's pool size;
            default 16).
        providers: provider name -> :class:`ProviderConfig`; a provider without an entry gets the defaults.
    """

    max_in_flight: int = attrs.field(default=16, converter=int)
    providers: Mapping[str, ProviderConfig] = attrs.field(factory=dict, converter=lambda v: dict(v))

    def __attrs_post_init__(self) -> None:
        if self.max_in_flight < 1:
            raise LLMConfigError(f"llm setting max_in_flight must be >= 1, got {self.max_in_flight}.")

    def provider(self, name: str) -> ProviderConfig:
        """The settings of provider ``name`` (defaults when none were given)."""
        return self.providers.get(name) or ProviderConfig()

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> LLMConfig:
        """Read ``{"max_in_flight": 16, "<provider>": {<ProviderConfig settings>}, ...}``.

        Raises:
            LLMConfigError: an unknown key (the message names the closest valid one) or a bad value.
        """
        mapping = dict(mapping or {})
        top: dict[str, Any] = {}
        providers: dict[str, ProviderConfig] = {}
        for key, value in mapping.items():
            if isinstance(value, ProviderConfig):
                providers[str(key)] = value
            elif isinstance(value, Mapping):
                providers[str(key)] = _provider_from(str(key), value)
            elif key == "max_in_flight":
                top[key] = value
            else:
                close = difflib.get_close_matches(str(key), ["max_in_flight"], n=1)
                hint = f"did you mean {close[0]!r}?" if close else "settings go in a table per provider"
                raise LLMConfigError(
                    f"llm: unknown setting {key!r}; {hint} (e.g. llm={{'gemini': {{'rpm': 60}}}} or a study file "
                    "table [llm.gemini])."
                )
        try:
            return cls(providers=providers, **top)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, LLMConfigError):
                raise
            raise LLMConfigError(f"llm: bad value: {exc}") from exc


def _provider_from(name: str, table: Mapping[str, Any]) -> ProviderConfig:
    for key in table:
        if key not in _PROVIDER_KEYS:
            close = difflib.get_close_matches(str(key), _PROVIDER_KEYS, n=1)
            hint = (f"did you mean {close[0]!r}?" if close else
                    f"a provider's own option goes in options, e.g. options = {{{key} = ...}}.")
            raise LLMConfigError(
                f"llm.{name}: unknown setting {key!r}; {hint} Valid: {', '.join(_PROVIDER_KEYS)}."
            )
    try:
        return ProviderConfig(**table)
    except LLMConfigError as exc:
        raise LLMConfigError(f"llm.{name}: {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise LLMConfigError(f"llm.{name}: bad value: {exc}") from exc


__all__ = ["LLMConfig", "LLMConfigError", "ProviderConfig"]

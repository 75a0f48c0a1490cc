"""The TRUST panel's members: advocates (provider, model, role, prompt) and the prompts shipped with the package.

A prompt is a Markdown file; ``{scale}`` and ``{untrusted}`` inside it are replaced by the shared scale
definitions (``prompts/scale.md``) and the untrusted-text rule (``prompts/untrusted.md``). The SHA-256 of the
assembled text is the prompt's version: it enters the evaluator's fingerprint and every request's cache key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from affectproxy.errors import AffectProxyError

_NAME = re.compile(r"^[A-Za-z0-9_]+$")
#: The roles shipped with prompts (``prompts/<role>.md``).
ROLES = ("legitimising", "delegitimising", "neutral")


class TrustConfigError(AffectProxyError, ValueError):
    """The TRUST evaluator's options are malformed (an unknown role, a bad advocate entry, a missing prompt)."""


def _frozen(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


@attrs.frozen
class Advocate:
    """One member of the panel.

    Attributes:
        role: ``"legitimising"``, ``"delegitimising"``, ``"neutral"`` or any name with its own ``prompt``.
        provider: the registered LLM provider (``"gemini"``, ``"openai"``, ``"anthropic"``, ...).
        model: the provider's model id.
        prompt: a prompt file path; empty for the shipped ``prompts/<role>.md``.
        provider_options: how to reach the provider (``{"base_url": "http://localhost:8000/v1"}``); never a key.
        options: provider-specific request options that change the answer (``{"reasoning_effort": "low"}``).
        name: the label of this advocate's own scores (``pathos_<name>``); default the role. Letters, digits, ``_``.
    """

    role: str
    provider: str
    model: str
    prompt: str = attrs.field(default="", converter=str)
    provider_options: dict[str, Any] = attrs.field(factory=dict, converter=_frozen, eq=False)
    options: dict[str, Any] = attrs.field(factory=dict, converter=_frozen)
    name: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.role)
        if not _NAME.match(self.name):
            raise TrustConfigError(f"TRUST advocate name {self.name!r} must be letters, digits or '_' (it names the "
                                   f"values pathos_{self.name}); pass name='...'.")
        if not self.prompt and self.role not in ROLES:
            raise TrustConfigError(f"TRUST advocate role {self.role!r} has no shipped prompt (roles: "
                                   f"{', '.join(ROLES)}); pass prompt='path/to/prompt.md'.")

    @classmethod
    def parse(cls, value: Advocate | Mapping[str, Any], index: int = 0) -> Advocate:
        """An :class:`Advocate` from itself or a mapping (a study file's ``[[evaluators.trust.advocates]]``)."""
        if isinstance(value, Advocate):
            return value
        if not isinstance(value, Mapping):
            raise TrustConfigError(f"TRUST advocate {index} must be a mapping with role, provider and model, got "
                                   f"{value!r}.")
        fields = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(value) - fields)
        missing = [k for k in ("role", "provider", "model") if k not in value]
        if unknown or missing:
            raise TrustConfigError(
                f"TRUST advocate {index} ({dict(value).get('role', '?')}): "
                + (f"unknown key(s) {', '.join(unknown)}; " if unknown else "")
                + (f"missing {', '.join(missing)}; " if missing else "")
                + f"valid keys: {', '.join(sorted(fields))}."
            )
        return cls(**value)


#: The study's panel as reported (Dietrich 2026): three advocates on three providers. Which model plays which
#: role is not reported; this assignment is ours.
DEFAULT_ADVOCATES: tuple[Advocate, ...] = (
    Advocate("legitimising", "gemini", "gemini-2.5-flash"),
    Advocate("delegitimising", "openai", "gpt-5.2"),
    Advocate("neutral", "anthropic", "claude-sonnet-4-6"),
)


def _shipped(name: str) -> str:
    return resources.files("affectproxy_trust").joinpath("prompts", name).read_text(encoding="utf-8")


def load_prompt(path_or_role: str) -> str:
    """The assembled prompt text: a shipped role's prompt or a file, with ``{scale}`` and ``{untrusted}`` filled.

    Raises:
        TrustConfigError: the file does not exist.
    """
    if path_or_role in (*ROLES, "supervisor"):
        text = _shipped(f"{path_or_role}.md")
    else:
        path = Path(path_or_role)
        if not path.is_file():
            raise TrustConfigError(f"TRUST prompt file {str(path)!r} does not exist; give an existing Markdown file "
                                   f"or leave prompt empty for the shipped prompt of the role.")
        text = path.read_text(encoding="utf-8")
    scale, untrusted = _shipped("scale.md").strip(), _shipped("untrusted.md").strip()
    return text.replace("{scale}", scale).replace("{untrusted}", untrusted)


def prompt_hash(text: str) -> str:
    """The prompt's version: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def parse_advocates(value: Sequence[Advocate | Mapping[str, Any]] | None) -> tuple[Advocate, ...]:
    """The panel from options; checks names are unique and there are at least two advocates."""
    advocates = DEFAULT_ADVOCATES if value is None else tuple(Advocate.parse(v, i) for i, v in enumerate(value))
    names = [a.name for a in advocates]
    if len(advocates) < 2:
        raise TrustConfigError(f"TRUST needs at least 2 advocates, got {len(advocates)}.")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise TrustConfigError(f"TRUST advocates share the name(s) {', '.join(dup)}; give each a distinct name='...'.")
    return advocates


__all__ = ["DEFAULT_ADVOCATES", "ROLES", "Advocate", "TrustConfigError", "load_prompt", "parse_advocates",
           "prompt_hash"]

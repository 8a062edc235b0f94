"""Which API key a model sends: a provider's environment key stays with that provider's own API.

The rule, for a spec resolved at ``field`` (``pool[1]``, ``judge``, ``judge.fallbacks[0]``):

1. ``api_key=`` is sent as given, to whatever host the spec names.
2. ``api_key_env="VAR"`` sends the value of ``VAR``, read now; an unset variable is a ``ConfigError``.
3. The provider's own variable (``OPENAI_API_KEY``, …) is sent only when the model talks to one of the
   provider's API hosts over HTTPS (:attr:`ProviderInfo.key_hosts`); a missing one is a ``ConfigError``.
4. Anywhere else the model sends :data:`PLACEHOLDER_KEY`, and one warning per member says so and how to
   give that server a key.

Every host and variable comes from the :class:`~fusion_graph.providers.ProviderInfo` passed in, so the
rule holds no provider table of its own. A resolved member or judge carries the same record as its
provider profile's :attr:`~fusion_graph.providers.profiles.ModelProfile.keys`.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fusion_graph.config import ModelSpec
from fusion_graph.errors import ConfigError

if TYPE_CHECKING:
    from fusion_graph.providers import ProviderInfo

__all__ = ["PLACEHOLDER_KEY", "api_key_for", "base_url_for", "check_params", "is_own_host"]

PLACEHOLDER_KEY = "not-needed"
"""What a model sends when it has no key of its own: clients insist on some key."""

logger = logging.getLogger("fusion_graph.providers")

_URL_AND_KEY_PARAMS = frozenset(
    {
        "api_key",
        "base_url",
        "endpoint",
        "openai_api_key",
        "openai_api_base",
        "anthropic_api_key",
        "anthropic_api_url",
        "mistral_api_key",
    }
)
"""Client arguments that would move a model or its key past the rule; the spec's own fields set them."""

_warned: set[tuple[str, str, str]] = set()
"""(model, base URL, member) already warned about, so one member warns once per process."""


def check_params(spec: ModelSpec, field: str) -> None:
    """Refuse ``params`` that set the URL or the key, which would bypass the rule.

    Raises:
        ConfigError: ``params`` holds ``base_url``, ``api_key`` or a client's own name for them.
    """
    found = sorted(_URL_AND_KEY_PARAMS.intersection(spec.params))
    if found:
        raise ConfigError(
            f"{field}.params",
            f"params sets {', '.join(found)}, which the spec's own fields decide",
            "move the URL to base_url and the key to api_key or api_key_env",
        )


def base_url_for(spec: ModelSpec, info: ProviderInfo) -> str | None:
    """The URL the model will talk to: the spec's, else the provider's URL variable, else its API.

    The result is passed to the client explicitly, so the host the key rule checked is the host the
    key goes to (clients would otherwise read ``OPENAI_BASE_URL`` and the like on their own).
    """
    if spec.base_url:
        return spec.base_url
    for name in info.base_url_env:
        value = os.environ.get(name)
        if value:
            return value
    return info.base_url


def is_own_host(info: ProviderInfo, url: str | None) -> bool:
    """Whether ``url`` is one of the provider's API hosts, over HTTPS on the default port."""
    if url is None:
        return False
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    host = (parts.hostname or "").rstrip(".").lower()
    return parts.scheme.lower() == "https" and port in (None, 443) and host in info.key_hosts


def api_key_for(spec: ModelSpec, info: ProviderInfo, url: str | None, field: str) -> str | None:
    """The key to send to ``url`` (see the module docstring for the rule).

    Args:
        spec: A member or judge.
        info: Its provider.
        url: Where the model will talk to (:func:`base_url_for`).
        field: The spec's place in the config, for messages (e.g. ``pool[1]``).

    Returns:
        The key; :data:`PLACEHOLDER_KEY` for a host that must not get the provider's key; ``None`` when
        the provider takes no key and none was given.

    Raises:
        ConfigError: ``api_key_env`` names an unset variable, or the provider's own variable is unset.
    """
    if spec.api_key is not None:
        return spec.api_key.get_secret_value()
    if spec.api_key_env is not None:
        value = os.environ.get(spec.api_key_env)
        if not value:
            raise ConfigError(
                f"{field}.api_key_env",
                f"the environment variable {spec.api_key_env} is not set",
                f"export {spec.api_key_env}=<the key of {url or 'that server'}>, or change api_key_env",
            )
        return value
    if info.key_env is None:
        return None
    if is_own_host(info, url):
        value = os.environ.get(info.key_env)
        if not value:
            raise ConfigError(
                f"{field}.api_key",
                f"no API key for the '{info.prefix}' provider",
                f"set the {info.key_env} environment variable or pass api_key=",
            )
        return value
    _warn_foreign_host(spec, info, url, field)
    return PLACEHOLDER_KEY


def _warn_foreign_host(spec: ModelSpec, info: ProviderInfo, url: str | None, field: str) -> None:
    who = f"{field} ({spec.name or spec.label})"
    seen = (str(spec.label), url or "", spec.name or field)
    if seen in _warned:
        return
    _warned.add(seen)
    keyless = (
        " For a server that takes no key, use the 'openai-compatible:' prefix."
        if (info.extra == "openai")
        else ""
    )
    logger.warning(
        "%s: %s is not an API host of '%s' (%s), so %s is not sent there and the model sends no real "
        'key. If that server needs one, set api_key_env = "VAR" (the variable holding its key) or '
        "api_key on %s.%s",
        who,
        url,
        info.prefix,
        ", ".join(info.key_hosts),
        info.key_env,
        field,
        keyless,
    )

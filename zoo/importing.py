"""Importing plugin code: dotted module names, and Python files by path.

A file is imported by its path (``importlib.util.spec_from_file_location``), never by putting
its folder on ``sys.path``: a folder full of ``.py`` files must not be able to shadow later
imports (a stray ``tifffile.py`` next to an experiment would otherwise replace the real one).

The module name of a file is derived from its path alone (``zoo_local_<stem>``, plus a short
hash of the path when two files share a stem), so every process that loads the same file gives
it the same name and objects defined there pickle between processes.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from .trust import is_file_reference as is_file_reference  # its home: what trust hashes

LOCAL_PREFIX = "zoo_local_"


def module_name_for(path: Path) -> str:
    """The ``sys.modules`` name a file at ``path`` is imported under."""
    name = LOCAL_PREFIX + "".join(c if c.isalnum() else "_" for c in path.stem)
    loaded = sys.modules.get(name)
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "") != path:
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
        name = f"{name}_{digest}"
    return name


def import_file(path: str | Path) -> ModuleType:
    """Import the Python file at ``path`` (once per path); its folder is not put on sys.path."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such Python file")
    name = module_name_for(path)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def import_module(module: str, base: Path | None = None) -> ModuleType:
    """A dotted module name (through the normal import system), or a ``.py`` file relative to
    ``base`` (by path)."""
    if is_file_reference(module):
        path = Path(module)
        if not path.is_absolute():
            if base is None:
                raise ImportError(f"{module}: a relative file needs a base folder")
            path = base / path
        return import_file(path)
    return importlib.import_module(module)


def import_object(reference: str, base: Path | None = None) -> Any:
    """``"package.module:attr.sub"`` or ``"file.py:attr"`` (relative to ``base``) -> the object."""
    module, sep, attr = reference.rpartition(":")
    if not sep or not module or not attr:
        raise ImportError(f"{reference!r} is not of the form 'module:attribute'")
    obj: Any = import_module(module, base)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj

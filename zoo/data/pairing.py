"""Pair the files of several folders by name, never by sorted position.

Released datasets prefix file names with their role (Flare7K's ``test_data/real`` holds
``input/input_000000.png``, ``gt/gt_000000.png`` and ``mask/mask_000000.png``), so the key of a
file is its lowercase stem with a leading ``<role>_`` removed, where the roles are the folder's
own name and the key given by the caller (``input``, ``gt``, ``mask`` ...).  LOL's
``low/1.png``/``high/1.png`` pair on the plain stem.

A file whose partner is missing raises :class:`zoo.errors.InputError` naming that file and the
folder in which its partner was looked for; two files of one folder with the same key
(``a.png`` and ``a.jpg``) are refused too.
"""
from __future__ import annotations

from pathlib import Path

from zoo.errors import InputError

from .io import list_images

#: Role prefixes removed from stems besides the folder's own name and the caller's key.
ROLE_PREFIXES = ("input", "gt", "mask", "lq", "hq", "low", "high", "pred", "output", "target",
                 "deflare", "flare", "light")


def name_key(path: Path, roles: tuple[str, ...] = ()) -> str:
    """The pairing key of ``path``: lowercase stem without a ``<role>_`` / ``<role>-`` prefix."""
    stem = path.stem.lower()
    for role in (*roles, *ROLE_PREFIXES):
        role = role.lower()
        for sep in ("_", "-"):
            if stem.startswith(role + sep) and len(stem) > len(role) + 1:
                return stem[len(role) + 1:]
    return stem


def index_folder(folder: str | Path, role: str = "") -> dict[str, Path]:
    """``{key: path}`` for the images of ``folder``; duplicate keys raise InputError."""
    folder = Path(folder)
    out: dict[str, Path] = {}
    roles = tuple(r for r in (role, folder.name) if r)
    for path in list_images(folder):
        key = name_key(path, roles)
        if key in out:
            raise InputError(f"{path} and {out[key]} have the same name key {key!r}; "
                             f"keep one of them")
        out[key] = path
    return out


def pair_by_name(folders: dict[str, str | Path], *, optional: tuple[str, ...] = ()
                 ) -> list[tuple[str, dict[str, Path]]]:
    """Match the images of ``folders`` (``{"input": dir, "gt": dir, ...}``) by name key.

    Returns ``[(key, {"input": path, "gt": path, ...}), ...]`` sorted by key.  Every file must
    have a partner in every folder, except folders listed in ``optional``, which may lack files
    (their entry is then absent) but may not hold extra ones.
    """
    if not folders:
        raise InputError("pair_by_name: no folders given")
    indexes = {role: index_folder(folder, role) for role, folder in folders.items()}
    for role, index in indexes.items():
        if not index:
            raise InputError(f"no images in {folders[role]} ({role} folder)")
    required = [r for r in indexes if r not in optional]
    keys = set().union(*(set(indexes[r]) for r in required))
    for role in required:
        for key in sorted(keys - set(indexes[role])):
            have = next(indexes[r][key] for r in required if key in indexes[r])
            raise InputError(f"{have} has no partner in {folders[role]} ({role} folder)")
    for role in optional:
        extra = sorted(set(indexes[role]) - keys)
        if extra:
            raise InputError(f"{indexes[role][extra[0]]} has no partner in "
                             f"{folders[required[0]]} ({required[0]} folder)")
    return [(key, {r: indexes[r][key] for r in indexes if key in indexes[r]})
            for key in sorted(keys)]

"""The report's environment section, from the run folder's ``environment.json``.

What a reader needs to judge timings and to rerun the run elsewhere: the command, the commit,
torch and Python versions, CPUs and torch threads, the load average when the run started and
when the report was written (a loaded machine makes every timing slower), the device, and the
registry's provenance -- every plugin that is not part of restoration-zoo (name, version,
source) and the registry files read (with their digests) or skipped for want of trust.
"""
from __future__ import annotations

import shlex
from typing import Any, Mapping

from zoo.engine.run_folder import load_average, usable_cpus

#: The packages named in the report (all of them are in ``environment.json``).
SHOWN_PACKAGES = ("restoration-zoo", "torch", "torchvision", "numpy", "timm")


def command_line(argv: Any) -> str:
    """The recorded command line as one shell-quoted string (``""`` if none)."""
    if not isinstance(argv, list) or not argv:
        return ""
    return shlex.join(str(a) for a in argv)


def _load(values: Any) -> str:
    if not isinstance(values, (list, tuple)) or len(values) < 3:
        return "unknown"
    return f"{values[0]:.2f} / {values[1]:.2f} / {values[2]:.2f}"


def _short_digest(digest: Any) -> str:
    text = str(digest or "")
    return text.removeprefix("sha256:")[:12] or "?"


def environment_lines(env: Mapping[str, Any], provenance: Mapping[str, Any] | None) -> list[str]:
    """Markdown bullet lines for ``env`` (``environment.json``); ``provenance`` (the registry's,
    :meth:`zoo.registry.Registry.provenance` as a dict) stands in when the record has none."""
    machine = env.get("machine", {}) or {}
    packages = env.get("packages", {}) or {}
    lines = []
    cmd = command_line(env.get("argv"))
    if cmd:
        lines.append(f"- command: `{cmd}`")
    commit = env.get("git_commit")
    lines.append(f"- commit: `{commit}`" + (" (uncommitted changes)" if commit and
                                          str(commit).endswith("+dirty") else "")
                 if commit else "- commit: not a git checkout (see the package versions)")
    shown = [f"{k} {packages[k]}" for k in SHOWN_PACKAGES if k in packages]
    lines.append(f"- Python {packages.get('python', '?')}, " + ", ".join(shown)
                 + " (all versions: `environment.json`)")
    device = machine.get("device", "?")
    gpu = f" ({machine['gpu']}, CUDA {machine.get('cuda')})" if machine.get("gpu") else ""
    lines.append(f"- device {device}{gpu}; {machine.get('cpus', '?')} CPUs "
                 f"({machine.get('usable_cpus', machine.get('cpus', '?'))} usable by the run), "
                 f"torch threads {machine.get('torch_threads', '?')} intra-op / "
                 f"{machine.get('torch_interop_threads', '?')} inter-op; "
                 f"{env.get('world_size', 1)} process(es)")
    lines.append(f"- load average (1 / 5 / 15 min): {_load(machine.get('load_average'))} when "
                 f"the run started, {_load(load_average())} when this report was written "
                 f"(on {usable_cpus() or '?'} usable CPUs; a load above that slows every timing)")
    for resume in env.get("resumes", []) or []:
        lines.append(f"- resumed {resume.get('started', '?')}: `{command_line(resume.get('argv'))}`"
                     f" (load {_load((resume.get('machine') or {}).get('load_average'))})")
    prov = env.get("registry") or provenance
    if prov:
        lines += provenance_lines(prov, recorded="registry" in env)
    return lines


def provenance_lines(prov: Mapping[str, Any], recorded: bool = True) -> list[str]:
    """Plugins from outside restoration-zoo, registry files read and skipped, overrides."""
    lines = []
    plugins = prov.get("plugins", []) or []
    builtin = [p for p in plugins if p.get("source") == "builtin"]
    other = [p for p in plugins if p.get("source") != "builtin"]
    where = "" if recorded else " (as this report's registry has them; the run recorded none)"
    lines.append(f"- plugins{where}: {len(builtin)} built-in" + (
        "; from elsewhere, needed to rerun this recipe if it uses their names: "
        + ", ".join(f"`{p.get('name')}` {p.get('version', '?')} ({p.get('source', '?')}"
                    + (f", sha256 {_short_digest(p['sha256'])}" if p.get("sha256") else "")
                    + (f", {p.get('status')}" if p.get("status") not in (None, "ok") else "")
                    + ")" for p in other) if other else "; none from elsewhere"))
    files = prov.get("registry_files", []) or []
    if files:
        lines.append("- registry files read: " + ", ".join(
            f"`{f.get('path')}` ({f.get('role', '?')}, sha256 {_short_digest(f.get('sha256'))})"
            for f in files))
    for s in prov.get("skipped_files", []) or []:
        local = ", ".join(s.get("local", []) or [])
        lines.append(f"- registry file **not** read: `{s.get('path')}` ({s.get('reason', '?')})"
                     + (f"; its local plugins ({local}) were not loaded" if local else ""))
    for o in prov.get("overrides", []) or []:
        lines.append(f"- override: {o.get('kind')} `{o.get('name')}` from plugin "
                     f"`{o.get('plugin')}` replaces {', '.join(o.get('replaces', []))}")
    return lines

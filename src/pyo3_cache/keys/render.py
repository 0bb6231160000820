"""A key for a reader: the table of parts, a few words on each."""

from __future__ import annotations

from pyo3_cache.keys.model import KeyManifest, KeyPart, printable


def part_summary(part: KeyPart, kind: str = "rust") -> str:
    """A few words on a part for the key's table of parts."""
    inputs = part.inputs
    if kind == "wheel":
        words = _wheel_part_summary(part)
        if words is not None:
            return words
    if kind == "venv" and part.name == "lock":
        names = list(inputs)
        return ", ".join(names) if names else "nothing locked"

    def get(name: str) -> str:
        value = inputs.get(name, "")
        return value if isinstance(value, str) else ", ".join(value)

    if part.name == "prefix":
        return " ".join(v for v in (get("prefix"), get("job"), get("os"), get("arch")) if v)
    if part.name == "toolchain":
        extra = f", {get('channel')}" if "channel" in inputs else ""
        return f"rustc {get('rustc')} ({get('host')}, LLVM {get('LLVM')}{extra})"
    if kind == "venv" and part.name == "python":
        pre = f", {get('pre-release')} pre-release" if "pre-release" in inputs else ""
        return (
            f"{get('implementation')} {get('python')} (magic {get('magic')}, "
            f"{get('cache_tag')}, {get('platform')}{pre})"
        )
    if part.name == "python":
        bits = [f"{get('implementation')} {get('python')}".strip() or get("python")]
        bits.append(f"pyo3 {get('pyo3')}")
        if "maturin" in inputs:
            bits.append(f"maturin {get('maturin')}")
        return ", ".join(bits)
    if part.name == "env":
        names = list(inputs)
        if not names:
            return "no build variables set"
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        return f"{len(names)} variable{'s' if len(names) != 1 else ''}: {shown}"
    if part.name == "lock":
        crates = [k for k in inputs if "." not in k and "/" not in k]
        crate_names = set(crates)  # a list here made `key` quadratic in Cargo.lock's size
        files = [k for k in inputs if k not in crate_names and k.endswith(("Cargo.toml", "config"))]
        return (
            f"{len(crates)} locked crates, {len(files)} manifest/config file"
            f"{'s' if len(files) != 1 else ''}"
            + (
                ", pyproject build tables"
                if any(k.startswith("build-system") for k in inputs)
                else ""
            )
        )
    return f"{len(inputs)} inputs"


def render_parts_table(manifest: KeyManifest) -> list[str]:
    """``name  hash  summary`` lines, for the log and the text output."""
    width = max((len(p.name) for p in manifest.parts), default=4)
    return [
        f"{p.name:<{width}}  {p.hash}  {printable(part_summary(p, manifest.kind))}"
        for p in manifest.parts
    ]


def render_key_text(manifest: KeyManifest) -> str:
    lines = [f"key: {manifest.key}", "restore-keys:"]
    lines += [f"  {r}" for r in manifest.restore_keys]
    lines.append("parts:")
    lines += [f"  {row}" for row in render_parts_table(manifest)]
    return "\n".join(lines) + "\n"


def _wheel_part_summary(part: KeyPart) -> str | None:
    """A few words on a wheel-key part for the table of parts (None: the Rust key's words)."""
    inputs = part.inputs

    def get(name: str) -> str:
        value = inputs.get(name, "")
        return value if isinstance(value, str) else ", ".join(value)

    if part.name == "build":
        return f"{get('target')}, profile {get('profile')}, features {get('features')}"
    if part.name in ("rust-sources", "python-sources"):
        count = len(inputs)
        return f"{count} file{'s' if count != 1 else ''}" if count else "no files"
    if part.name == "metadata":
        name, version = get("project.name"), get("project.version")
        files = [k for k in inputs if not k.startswith("project.")]
        shown = " ".join(v for v in (name, version) if v) or "no [project] table"
        return shown + (f", {len(files)} readme/license file(s)" if files else "")
    return None

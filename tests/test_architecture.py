"""The layout stays honest: no import cycles, layers only import downwards, small modules,
and the README's Layout table names what is in the tree.

Imports are read with ``ast`` from the source, every one of them: module level,
inside functions (the CLI imports lazily) and under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "src" / "pyo3_cache"
ROOT = "pyo3_cache"

# Low to high. A module may import its own layer and the layers below it.
# `wheels` has no folder yet; it sits beside `bytecode` when it comes.
LAYERS: list[set[str]] = [
    {"errors", "redact", "project"},
    {"pin"},
    {"keys"},
    {"cache"},
    {"explain"},
    {"bytecode", "wheels"},
    {"github"},
    {"action"},
    {"cli"},
]
# The package itself and `python -m`: the public facade above every layer
# (`__init__` loads its names lazily; see test_the_package_root_imports_nothing_eagerly).
FACADE = {ROOT, f"{ROOT}.__main__"}

# Today's exceptions, each with its reason. A new violation fails the test, and so does an
# entry nothing needs any more (so the lists only shrink).
# (importer, imported): a module, or a package meaning every module in it.
LAYER_ALLOWLIST: dict[tuple[str, str], str] = {
    ("pyo3_cache.keys", "pyo3_cache.bytecode.magic_numbers"): (
        "the python key part warns about pre-release bytecode magic; the table is pure data"
    ),
}
# Groups of modules that import each other today (strongly connected), with the reason.
CYCLE_ALLOWLIST: dict[frozenset[str], str] = {}

MAX_LINES = 500
DATA_TABLES = {"pyo3_cache/bytecode/magic_numbers.py"}
# Over MAX_LINES today, split in other branches; the lead removes each one as its split lands.
SPLIT_PENDING: set[str] = set()


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    via_package: bool = False
    """An edge to a package whose ``__init__`` runs because one of its modules is imported."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The module a dotted name loads: itself, else the nearest package above it."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _targets(node: ast.Import | ast.ImportFrom, importer: str) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    base = node.module or ""
    if node.level:  # relative: level 1 is the importer's own package
        package = importer
        if MODULES[importer].name != "__init__.py":
            package = package.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    for alias in node.names:
        # `from pyo3_cache.keys import rust` loads pyo3_cache.keys.rust; `from x import name`, x.
        yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base


def _imports() -> list[Import]:
    found = []
    for importer, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _targets(node, importer):
                imported = _resolve(target) if target.split(".")[0] == ROOT else None
                if imported is None or imported == importer:
                    continue
                found.append(Import(importer, imported, node.lineno))
                # Importing a.b.c also runs a/b/__init__ (when it is not the importer's own).
                package = imported.rpartition(".")[0]
                while package and package != ROOT:
                    if not importer.startswith(package + ".") and package in MODULES:
                        found.append(Import(importer, package, node.lineno, via_package=True))
                    package = package.rpartition(".")[0]
    return found


IMPORTS = _imports()


def _layer(module: str) -> int | None:
    name = module.split(".")[1] if "." in module else ""
    for rank, names in enumerate(LAYERS):
        if name in names:
            return rank
    return None


def _where(edge: Import) -> str:
    return f"{MODULES[edge.importer].relative_to(PACKAGE.parent)}:{edge.line}"


def test_the_import_reader_sees_lazy_and_type_checking_imports() -> None:
    """Guards the reader itself: these imports exist in the tree and must be seen."""
    edges = {(e.importer, e.imported) for e in IMPORTS}
    # inside a function (the CLI's handlers import the library on use)
    assert ("pyo3_cache.cli.pin", "pyo3_cache.pin.pinning") in edges
    # under `if TYPE_CHECKING:` in the package root
    assert ("pyo3_cache", "pyo3_cache.keys.rust") in edges
    # `from pyo3_cache.github import log` names a module, not the package
    assert ("pyo3_cache.cli.main", "pyo3_cache.github.log") in edges


def test_every_module_belongs_to_a_layer() -> None:
    homeless = [m for m in MODULES if m not in FACADE and _layer(m) is None]
    assert not homeless, f"add these to LAYERS in {Path(__file__).name}: {homeless}"


def _import_groups(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan): the cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(frozenset(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return groups


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for edge in IMPORTS:
        graph[edge.importer].add(edge.imported)
    # The package root's names are loaded lazily, on first use, so its TYPE_CHECKING
    # imports of every module are not a cycle with the modules that import it.
    graph[ROOT] = set()
    groups = _import_groups(graph)
    new = [sorted(g) for g in groups if g not in CYCLE_ALLOWLIST]
    assert not new, "modules that import each other: " + "; ".join(" <-> ".join(g) for g in new)
    stale = [sorted(g) for g in CYCLE_ALLOWLIST if g not in groups]
    assert not stale, f"no longer a cycle, remove from CYCLE_ALLOWLIST: {stale}"


def _within(module: str, scope: str) -> bool:
    return module == scope or module.startswith(scope + ".")


def test_no_module_imports_a_higher_layer() -> None:
    violations = {}
    for edge in IMPORTS:
        if edge.importer in FACADE or edge.imported in FACADE or edge.via_package:
            continue
        low, high = _layer(edge.importer), _layer(edge.imported)
        if low is not None and high is not None and high > low:
            violations.setdefault((edge.importer, edge.imported), _where(edge))

    def allowed(pair: tuple[str, str]) -> tuple[str, str] | None:
        for scope in LAYER_ALLOWLIST:
            if _within(pair[0], scope[0]) and _within(pair[1], scope[1]):
                return scope
        return None

    new = {pair: at for pair, at in violations.items() if allowed(pair) is None}
    assert not new, "a lower layer imports a higher one:\n" + "\n".join(
        f"{at}: {a} imports {b}" for (a, b), at in sorted(new.items())
    )
    stale = sorted(set(LAYER_ALLOWLIST) - {allowed(pair) for pair in violations})
    assert not stale, f"no longer needed, remove from LAYER_ALLOWLIST: {stale}"


def test_the_package_root_imports_nothing_eagerly() -> None:
    """`import pyo3_cache` (and so every CLI start) loads no submodule."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    eager = []
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.ImportFrom) and (sub.module or "").startswith(ROOT):
                eager.append(sub.lineno)
    assert not eager, f"pyo3_cache/__init__.py imports eagerly on lines {eager}"


def _line_counts() -> dict[str, int]:
    return {
        str(path.relative_to(PACKAGE.parent)): len(path.read_text(encoding="utf-8").splitlines())
        for path in MODULES.values()
    }


def test_no_module_is_over_500_lines() -> None:
    counts = _line_counts()
    big = {m: n for m, n in counts.items() if n > MAX_LINES and m not in DATA_TABLES}
    new = {m: n for m, n in big.items() if m not in SPLIT_PENDING}
    assert not new, f"modules over {MAX_LINES} lines (split them): {new}"
    assert set(counts) >= DATA_TABLES, f"a data table moved: {sorted(DATA_TABLES - set(counts))}"
    done = sorted(SPLIT_PENDING - set(big))
    assert not done, f"split or gone, remove from SPLIT_PENDING: {done}"


def _layout_table() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    names = []
    for row in section.splitlines():
        if row.startswith("|") and not row.startswith("|---"):
            first = row.split("|")[1]
            names += re.findall(r"`([^`]+)`", first)
    return names


def test_the_readme_layout_table_lists_exactly_the_tree() -> None:
    tree = {f"{p.parent.name}/" for p in PACKAGE.glob("*/__init__.py")}
    tree |= {p.name for p in PACKAGE.glob("*.py")}
    table = _layout_table()
    assert len(table) == len(set(table)), f"listed twice: {table}"
    assert set(table) == tree, (
        f"missing from the table: {sorted(tree - set(table))}; "
        f"not in the tree: {sorted(set(table) - tree)}"
    )

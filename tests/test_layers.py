"""The direction of dependency between fcw's packages, read from the source (ast), not by importing.

Layers, lowest first: ``engines`` (model specs, store, backends, engine building: knows nothing of
fcw), ``fcw``'s core (stages, pipeline, sinks, eval, batch), ``ui`` (the Qt overlay, a wing that
uses the core), ``training`` (trains models with the core's renderer and proposals; an offline
tool that nothing imports), and ``fcw.cli``, the composition root, which may import all of them
and which nothing imports but itself and ``fcw/__main__.py``. Every import counts, also one inside a
function or under ``TYPE_CHECKING``: a deferred import hides a cycle from Python, not from a reader.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engines", "fcw", "ui", "training")


def module_files(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Module name -> file for every .py file under ``packages`` (a package as its __init__)."""
    mods = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, int]]:
    """(dotted name, line) of every import; ``from X import Y`` gives X.Y (a module or not)."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for alias in node.names:
                yield (f"{prefix}.{alias.name}" if alias.name != "*" else prefix), node.lineno


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module ``name`` refers to: itself, or its longest prefix that is a module."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


def import_graph(root: Path = REPO_ROOT,
                 packages: tuple[str, ...] = PACKAGES) -> dict[str, dict[str, int]]:
    """module -> {imported project module: first line}; self-imports of a package skipped."""
    modules = module_files(root, packages)
    graph: dict[str, dict[str, int]] = {}
    for mod, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: dict[str, int] = {}
        for name, line in _imported_names(tree, mod, path.name == "__init__.py"):
            target = _resolve(name, modules)
            if target is not None and target != mod:
                edges.setdefault(target, line)
        graph[mod] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _in(mod: str, pkg: str) -> bool:
    return mod == pkg or mod.startswith(pkg + ".")


def _is_cli(mod: str) -> bool:
    return _in(mod, "fcw.cli")


def _is_core(mod: str) -> bool:
    return _in(mod, "fcw") and not _is_cli(mod) and mod != "fcw.__main__"


def layer_violations(graph: dict[str, dict[str, int]]) -> dict[str, list[str]]:
    """Rule -> ["importer:line -> imported", ...] for every import against the direction."""
    rules = {
        "engines imports nothing of fcw or ui":
            lambda a, b: _in(a, "engines") and (_in(b, "fcw") or _in(b, "ui")),
        "fcw's core imports neither ui nor fcw.cli":
            lambda a, b: _is_core(a) and (_in(b, "ui") or _is_cli(b)),
        "ui does not import fcw.cli":
            lambda a, b: _in(a, "ui") and _is_cli(b),
        "nothing below training imports it (it trains models with fcw's renderer and proposals)":
            lambda a, b: _in(b, "training") and not _in(a, "training"),
        "only fcw.cli and fcw/__main__.py import fcw.cli":
            lambda a, b: _is_cli(b) and not (_is_cli(a) or a == "fcw.__main__"),
    }
    out: dict[str, list[str]] = {rule: [] for rule in rules}
    for a, edges in sorted(graph.items()):
        for b, line in sorted(edges.items()):
            for rule, broken in rules.items():
                if broken(a, b):
                    out[rule].append(f"{a}:{line} -> {b}")
    return out


def _cycle_text(graph: dict[str, dict[str, int]], comp: list[str]) -> str:
    members = set(comp)
    return "; ".join(f"{a}:{line} -> {b}" for a in comp
                     for b, line in sorted(graph[a].items()) if b in members)


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, int]]:
    return import_graph()


# --- the checker itself, on a small tree with known faults ------------------------------------

def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_checker_finds_deferred_and_relative_cycles_and_wrong_directions(tmp_path):
    _write(tmp_path, {
        "engines/__init__.py": "",
        "engines/a.py": "def f():\n    from .b import g\n",         # a -> b, deferred
        "engines/b.py": "from engines import a\nimport fcw.errors\n",  # a cycle; engines -> fcw
        "engines/c.py": "from . import b\nimport numpy\n",          # outside the tree: ignored
        "fcw/__init__.py": "",
        "fcw/errors.py": "from engines.errors import X\n",          # no such module: engines
        "fcw/__main__.py": "from fcw.cli import main\n",            # allowed
        "fcw/core.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import ui.app\n",
        "fcw/cli/__init__.py": "from ui import app\nfrom . import run\n",
        "fcw/cli/run.py": "from fcw import core\n",
        "ui/__init__.py": "",
        "ui/app.py": "from fcw.cli.run import main\n",
    })
    g = import_graph(tmp_path)
    assert g["engines.a"] == {"engines.b": 2} and g["engines.c"] == {"engines.b": 1}
    assert g["fcw.errors"] == {"engines": 1}
    # ui.app -> fcw.cli.run -> fcw.core -> ui.app (under TYPE_CHECKING); fcw.cli itself is
    # imported only by fcw.__main__, so it is outside the cycle.
    assert cycles(g) == [["engines.a", "engines.b"], ["fcw.cli.run", "fcw.core", "ui.app"]]
    v = layer_violations(g)
    assert v["engines imports nothing of fcw or ui"] == ["engines.b:2 -> fcw.errors"]
    assert v["fcw's core imports neither ui nor fcw.cli"] == ["fcw.core:3 -> ui.app"]
    assert v["ui does not import fcw.cli"] == ["ui.app:1 -> fcw.cli.run"]
    assert v["only fcw.cli and fcw/__main__.py import fcw.cli"] == ["ui.app:1 -> fcw.cli.run"]


# --- the project ------------------------------------------------------------------------------

def test_graph_sees_the_project(graph):
    # A parser that found nothing would pass every rule below.
    assert {"engines.backends", "fcw.app", "fcw.cli", "ui.app"} <= set(graph)
    assert "engines.backends" in graph["fcw.app"]
    assert sum(map(len, graph.values())) > 200


def test_no_import_cycles(graph):
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(_cycle_text(graph, c) for c in found)


@pytest.mark.parametrize("rule", list(layer_violations({})))
def test_layers_import_downwards(graph, rule):
    broken = layer_violations(graph)[rule]
    assert not broken, f"{rule}, but:\n" + "\n".join(broken)

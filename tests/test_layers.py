"""The layers point one way: public API -> dispatch -> drivers -> kernels.

Read from the source with ``ast`` (imports inside functions included, since a
deferred import is an import all the same): no fastnl module imports one
that imports it back, no public module imports fastnl._dask, and neither
the Dask implementations nor the drivers import a public module.
"""

import ast
import os

import pytest

import fastnl

ROOT = os.path.dirname(os.path.abspath(fastnl.__file__))


def _modules():
    """{module name: source path} of fastnl's Python modules."""
    found = {}
    for folder, _, files in os.walk(ROOT):
        for file in files:
            if file.endswith(".py"):
                path = os.path.join(folder, file)
                parts = os.path.relpath(path, os.path.dirname(ROOT))[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts.pop()
                found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_module(name):
    if name in MODULES:
        return True
    # compiled modules (fastnl._kernels._rowwise, ...) have no .py source
    folder = os.path.join(os.path.dirname(ROOT), *name.split(".")[:-1])
    stem = name.split(".")[-1]
    return os.path.isdir(folder) and any(f.startswith(stem + ".") and not f.endswith(".c")
                                         for f in os.listdir(folder))


def _imports(name):
    """The fastnl modules that module `name` imports, at any depth of its code."""
    path = MODULES[name]
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if _is_module(sub) else base)
    return {m for m in found if m == "fastnl" or m.startswith("fastnl.")}


GRAPH = {name: _imports(name) for name in MODULES}


def _public(name):
    return not any(part.startswith("_") for part in name.split("."))


def test_the_walk_finds_the_layers():
    # the test below means nothing if the parser misses the imports it is about
    assert {"fastnl._dispatch", "fastnl._drivers.losses"} <= GRAPH["fastnl.losses"]
    assert "fastnl._dask" in GRAPH["fastnl._dispatch"]  # imported inside a function
    assert "fastnl._drivers.along_axis" in GRAPH["fastnl._dask"]


def test_no_import_cycle():
    """Depth-first search; a module met again on the current path closes a cycle."""
    state, path = {}, []

    def visit(name):
        state[name] = "open"
        path.append(name)
        for dep in sorted(GRAPH.get(name, ())):
            if state.get(dep) == "open":
                cycle = path[path.index(dep):] + [dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep in GRAPH and dep not in state:
                visit(dep)
        path.pop()
        state[name] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _public(n)))
def test_public_modules_do_not_import_dask_support(name):
    assert "fastnl._dask" not in GRAPH[name]


@pytest.mark.parametrize("name", sorted(n for n in MODULES
                                        if n == "fastnl._dask" or n.startswith("fastnl._drivers")))
def test_lower_layers_do_not_import_upward(name):
    """The Dask implementations and the drivers use the drivers, the checks
    and the kernels, never a public module (nor its private names)."""
    upward = {m for m in GRAPH[name] if _public(m)}
    if name.startswith("fastnl._drivers"):
        upward |= GRAPH[name] & {"fastnl._dispatch", "fastnl._dask"}
    assert not upward, f"{name} imports {sorted(upward)}"

"""The package's rooms and their order: no import circle, and no room imports a higher one.

Every `import`/`from … import` counts, at the top of a module, inside a function or under
TYPE_CHECKING: a lazy import is still a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Lower numbers are lower layers; a module may import its own layer or lower ones.
LAYERS = [
    (0, ("pipeline", "pipeline.errors", "pipeline.logs")),
    (1, ("pipeline.config", "pipeline.config_reference")),
    (2, ("pipeline.data",)),
    (3, ("pipeline.modelling",)),
    (4, ("pipeline.scoring",)),
    (5, ("pipeline.attest", "pipeline.runs", "pipeline.validation", "pipeline.scaffold")),
    (6, ("pipeline.flow",)),
    (7, ("hokusai_cli",)),
]


def layer(module: str) -> int:
    best = None
    for rank, prefixes in LAYERS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (rank, len(prefix))
    assert best is not None, f"{module} is in no layer; add it to LAYERS"
    return best[0]


def modules() -> dict[str, Path]:
    found = {}
    for package in ("pipeline", "hokusai_cli"):
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Project modules imported by `name` (`from pkg import mod` counts as `pkg.mod`)."""
    out = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def test_every_module_is_in_a_layer():
    for name in modules():
        layer(name)


def test_no_module_imports_a_higher_layer():
    upward = sorted(
        f"{name} (layer {layer(name)}) imports {dep} (layer {layer(dep)})"
        for name, deps in graph().items() for dep in deps if layer(dep) > layer(name)
    )
    assert upward == []


def test_no_import_circle():
    edges = graph()
    # A package's __init__ is imported with each of its modules: a module importing its own
    # package is not a circle unless the __init__ imports the module back.
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(edges[node]):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(stack[stack.index(dep):] + [node, dep]) if dep in stack else f"{node} -> {dep}")
            elif dep not in state:
                visit(dep, stack + [node])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert cycles == []


def test_the_layer_check_sees_lazy_and_type_checking_imports():
    edges = graph()
    assert "pipeline.modelling.models" in edges["pipeline.modelling.baseline"]  # top-level import
    assert "pipeline.data.conform" in edges["pipeline.modelling.baseline"]  # inside a function
    assert "pipeline.config" in edges["pipeline.scoring.delta"]  # under TYPE_CHECKING and at the top

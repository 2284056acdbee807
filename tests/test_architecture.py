"""The import structure DESIGN.md asks for: envs/ and agents/ are peers on the core, and nothing cycles."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] in ("envs", "agents"):  # installed inside the package (setuptools package-dir)
        parts = ["metacompose"] + parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for base in ("metacompose", "envs", "agents") for p in (ROOT / base).rglob("*.py")}


def _imports(name: str, path: Path, modules: dict) -> list[tuple[str, str]]:
    """``(module, imported name)`` of every import in ``path`` outside ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            node.body = []
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{target}.{alias.name}"
                found.append((full if full in modules else target, alias.name))
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
    return [(t, n) for t, n in found if t in modules]


def _graph() -> dict[str, list[tuple[str, str]]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_envs_and_agents_use_only_each_others_public_names():
    for name, imports in _graph().items():
        for target, imported in imports:
            if name.startswith("metacompose.envs"):
                assert not target.startswith("metacompose.agents"), f"{name} imports {target}: envs must not use agents"
            if name.startswith("metacompose.agents") and target.startswith("metacompose.envs"):
                assert target == "metacompose.envs" and not imported.startswith("_"), (
                    f"{name} imports {imported!r} from {target}; agents use only the public metacompose.envs names")


def test_no_import_cycle():
    """No module imports, directly or through others, a module that imports it back (a package's
    ``__init__`` importing its own submodules is an edge like any other, so a submodule that
    imports its own package closes a cycle)."""
    graph = {name: sorted({t for t, _ in imports if t != name}) for name, imports in _graph().items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1  # on the current path
        for nxt in graph.get(node, ()):
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join(trail[trail.index(nxt):] + [nxt])
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2  # done

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])

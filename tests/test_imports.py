"""The package's import graph: no loops between modules, and no upward imports.

Three parts (see the README's layout table): the engine (array backend,
initialisers, losses, Adam, gradient checks, layers) knows nothing of the
paper; the paper (networks, one GAN iteration, the mean teacher) knows
nothing of the job's machinery (``run/``) or the commands. Beside them the
speed package ``fast/``: the commands open it, and nothing on the reference
path (engine and paper) reaches it, directly or through another module. The
graph is read from the source with ``ast`` (imports inside functions
included), so nothing is imported to check it.
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mttgan_min"
ENGINE = ("backend", "initializers", "losses", "adam", "gradcheck", "layers")
PAPER = ("models", "gan_step", "ema")
RUN = ("run",)
COMMANDS = ("train", "sample", "bench", "data.__main__")
FAST = ("fast",)


def module_names():
    """Dotted names below the package ('layers.conv', 'layers' for layers/__init__.py) -> file."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def imports_of(name, path, modules):
    """The package modules that module ``name`` imports (a set of dotted names)."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if name else []
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names if a.name.split(".")[0] == PACKAGE.name]
            found |= {t.split(".", 1)[1] if "." in t else "" for t in targets}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[:len(base) - (node.level - 1)]
                source = ".".join(base + (node.module.split(".") if node.module else []))
            elif node.module and node.module.split(".")[0] == PACKAGE.name:
                source = node.module.split(".", 1)[1] if "." in node.module else ""
            else:
                continue
            for alias in node.names:  # `from .pkg import sub` imports the submodule pkg.sub
                sub = f"{source}.{alias.name}" if source else alias.name
                found.add(sub if sub in modules else source)
    found.discard(name)
    return {m for m in found if m in modules}


def import_graph():
    modules = module_names()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def in_part(module, part):
    return any(module == p or module.startswith(p + ".") for p in part)


def test_the_graph_is_read():
    graph = import_graph()
    assert "layers.conv" in graph["fast.conv"] and "layers.im2col" in graph["layers.conv"]
    assert {"layers.conv", "layers.maxpool"} <= graph["layers.reference"] <= graph["layers.conv_layers"] | {
        "layers.conv", "layers.maxpool"}
    assert "fast" in graph["train"] and "fast.settings" in graph["fast"]
    assert {"adam", "ema", "models"} <= graph["run.state"] and "gan_step" in graph["run.loop"]
    assert "layers" in graph["models"]


def find_loop(graph):
    """One import loop of ``graph`` (module -> imported modules) as a list [a, b, ..., a], or None."""
    done, path = set(), []

    def visit(module):
        if module in path:
            return path[path.index(module):] + [module]
        if module in done:
            return None
        path.append(module)
        for target in sorted(graph[module]):
            loop = visit(target)
            if loop:
                return loop
        path.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        loop = visit(module)
        if loop:
            return loop
    return None


def test_find_loop_finds_one():
    assert find_loop({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_loop({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_loops():
    loop = find_loop(import_graph())
    assert loop is None, "import loop: " + " -> ".join(loop)


def test_the_engine_imports_neither_the_paper_nor_the_job():
    forbidden = PAPER + RUN + COMMANDS + ("data", "evaluation")
    bad = {m: sorted(t for t in targets if in_part(t, forbidden))
           for m, targets in import_graph().items() if in_part(m, ENGINE)}
    assert not any(bad.values()), {m: t for m, t in bad.items() if t}


def test_the_paper_does_not_import_the_job():
    bad = {m: sorted(t for t in targets if in_part(t, RUN + COMMANDS))
           for m, targets in import_graph().items() if in_part(m, PAPER)}
    assert not any(bad.values()), {m: t for m, t in bad.items() if t}


def reachable(graph, module):
    """Every module that importing ``module`` imports, directly or through others."""
    seen, todo = set(), [module]
    while todo:
        for target in graph[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_reachable_follows_imports_of_imports():
    assert reachable({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a"}}, "a") == {"b", "c"}


def test_the_reference_path_never_reaches_the_fast_package():
    """layers/ and the modules a student reads with it (networks, gradient checks, Adam, EMA, losses)
    compute with the reference tier: importing any of them never imports ``fast/``."""
    graph = import_graph()
    reference_path = [m for m in graph if in_part(m, ENGINE + PAPER)]
    assert {"layers", "layers.conv_layers", "models", "gradcheck", "adam", "ema", "losses"} <= set(reference_path)
    bad = {m: sorted(t for t in reachable(graph, m) if in_part(t, FAST)) for m in reference_path}
    assert not any(bad.values()), {m: t for m, t in bad.items() if t}


def test_the_fast_package_imports_only_the_engine():
    bad = {m: sorted(t for t in targets if not in_part(t, ENGINE + FAST))
           for m, targets in import_graph().items() if in_part(m, FAST)}
    assert not any(bad.values()), {m: t for m, t in bad.items() if t}

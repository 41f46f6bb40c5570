"""The package's shape, checked from its source: no import cycle, no file over 500 lines, no
function over 60 lines of code (docstrings aside) and no backslash line continuation.

Every check parses the files (``ast``, ``tokenize``); nothing of ``reproduce`` is imported.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "reproduce"
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 60

# Functions allowed over MAX_FUNCTION_LINES, by qualified name, each with its reason.
LONG_FUNCTIONS_ALLOWED: dict[str, str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


SOURCES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _label(path: Path) -> str:
    return str(path.relative_to(REPO))


def imported_modules(name: str, tree: ast.AST) -> set[str]:
    """The modules of ``reproduce`` that module ``name`` imports, anywhere in its body
    (module level and inside functions): ``from a import b`` names module ``a.b`` where that
    is a module of the package, else ``a``."""
    is_package = SOURCES[name].name == "__init__.py"
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                base = ".".join(package[:len(package) - (node.level - 1)])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in SOURCES else base)
    return {m for m in found if m in SOURCES and m != name}


def import_graph() -> dict[str, set[str]]:
    return {name: imported_modules(name, ast.parse(path.read_text(), str(path)))
            for name, path in SOURCES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None (depth-first search)."""
    done, stack, on_stack = set(), [], set()

    def visit(node):
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target in on_stack:
                return stack[stack.index(target):] + [target]
            if target not in done and (cycle := visit(target)):
                return cycle
        stack.pop()
        on_stack.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done and (cycle := visit(start)):
            return cycle
    return None


def all_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles of ``graph`` until none is left, each found after the last edge of the one
    before it is taken out (so every cycle is named, not only the first)."""
    graph = {node: set(targets) for node, targets in graph.items()}
    cycles = []
    while cycle := find_cycle(graph):
        cycles.append(cycle)
        graph[cycle[-2]].discard(cycle[-1])
    return cycles


def test_find_cycle_on_hand_made_graphs():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": set(), "b": {"c"}, "c": {"b"}}) == ["b", "c", "b"]
    two = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}
    assert all_cycles(two) == [["a", "b", "a"], ["c", "d", "c"]]


def test_imports_resolved_as_python_resolves_them():
    tree = ast.parse("from reproduce import layout, __version__\n"
                     "from reproduce.layout import RunFiles\n"
                     "from . import metrics\n"
                     "from .data import download\n"
                     "def f():\n    import reproduce.datasets\n")
    assert imported_modules("reproduce.status", tree) == {
        "reproduce", "reproduce.layout", "reproduce.metrics", "reproduce.data.download",
        "reproduce.datasets"}
    # a module does not import itself
    assert "reproduce.layout" not in imported_modules("reproduce.layout", tree)


def test_import_graph_has_no_cycle():
    graph = import_graph()
    assert len(graph) > 20 and graph["reproduce.status"], "the graph was not built"
    cycles = all_cycles(graph)
    assert not cycles, "import cycle(s):\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("path", SOURCES.values(), ids=_label)
def test_file_length(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_FILE_LINES, f"{_label(path)}: {lines} lines (at most {MAX_FILE_LINES})"


def function_lengths(tree: ast.AST, prefix: str):
    """``(qualified name, line of its def, lines of code)`` of every function in ``tree``:
    from the ``def`` line to its last line, less its docstring's lines."""
    def walk(node, scope):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{scope}.{child.name}"
                lines = child.end_lineno - child.lineno + 1
                first = child.body[0]
                if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                        and isinstance(first.value.value, str)):
                    lines -= first.end_lineno - first.lineno + 1
                yield name, child.lineno, lines
                yield from walk(child, name)
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{scope}.{child.name}")
            else:
                yield from walk(child, scope)

    yield from walk(tree, prefix)


def test_function_lengths_counted_by_hand():
    source = ('def f(x):\n    """Doc\n\n    more doc.\n    """\n    y = x\n\n    return y\n'
              "class C:\n    @property\n    def g(self):\n        return 1\n")
    assert list(function_lengths(ast.parse(source), "m")) == [("m.f", 1, 4), ("m.C.g", 11, 2)]


@pytest.mark.parametrize("name", SOURCES, ids=lambda n: _label(SOURCES[n]))
def test_function_length(name):
    path = SOURCES[name]
    too_long = [f"{_label(path)}:{line} {qualified} has {lines} lines of code"
                for qualified, line, lines in function_lengths(ast.parse(path.read_text()), name)
                if lines > MAX_FUNCTION_LINES and qualified not in LONG_FUNCTIONS_ALLOWED]
    assert not too_long, (f"functions over {MAX_FUNCTION_LINES} lines (docstrings aside):\n"
                          + "\n".join(too_long))


def test_allowlist_names_existing_long_functions():
    lengths = {q: n for name, path in SOURCES.items()
               for q, _, n in function_lengths(ast.parse(path.read_text()), name)}
    for qualified, reason in LONG_FUNCTIONS_ALLOWED.items():
        assert reason.strip(), f"{qualified}: no reason given"
        assert lengths.get(qualified, 0) > MAX_FUNCTION_LINES, f"{qualified}: not needed"


def backslash_continuations(source: str) -> list[int]:
    """Lines ending in a backslash that continues the statement (strings and comments
    aside): a token that starts on a later line than the previous one ended, with no
    NEWLINE or NL token between."""
    lines, previous = [], None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            continue
        if (previous is not None and previous.type not in (tokenize.NEWLINE, tokenize.NL)
                and token.start[0] > previous.end[0]):
            lines.append(previous.end[0])
        previous = token
    return lines


def test_backslash_continuations_found_by_hand():
    source = ('x = 1 + \\\n    2\n'
              's = "a\\\nb"  # a string continued, not a statement\n'
              '# a comment \\\n'
              'y = (1 +\n     2)\n'
              't = """one\\\ntwo"""\n'
              'if x:\n    z = x \\\n        + 1\n')
    assert backslash_continuations(source) == [1, 11]


@pytest.mark.parametrize("path", SOURCES.values(), ids=_label)
def test_no_backslash_continuation(path):
    found = backslash_continuations(path.read_text())
    assert not found, (f"{_label(path)}: backslash line continuation on line(s) "
                       f"{', '.join(map(str, found))}; use parentheses")

"""The front page and docs/: links that resolve, every page reachable from the README, a
README short enough to be a front page, the README's set-up commands equal to CI's, the
modules and tests the pages name exist, and the callbacks page's example runs."""

import ast
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO

README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [README, *DOCS, *(REPO / name / "README.md" for name in ("benchmarks", "data",
                                                             "paper_figures"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def without_code(text: str) -> str:
    """The Markdown outside fenced code blocks and inline code."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings: lowercased, punctuation other than '-' and
    '_' dropped, spaces to '-', a repeated heading suffixed -1, -2 ..."""
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", re.sub(r"^```.*?^```", "", text,
                                                              flags=re.M | re.S), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        if count:
            seen[f"{slug}-{count}"] = 1
    return set(seen)


def relative_links(page):
    for target in LINK.findall(without_code(page.read_text())):
        if not re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
            yield target


def test_slug_rule_on_known_headings():
    assert anchors("# The demo\n## What `paper_figures/` holds\n## Before: `estimate`\n") == {
        "the-demo", "what-paper_figures-holds", "before-estimate"}
    assert anchors("## A\n## A\n") == {"a", "a-1"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.exists(), f"{page.relative_to(REPO)}: link to {target!r}: no such file"
        if anchor:
            assert file.suffix == ".md", f"{page.relative_to(REPO)}: anchor into {file.name}"
            assert anchor in anchors(file.read_text()), (
                f"{page.relative_to(REPO)}: link to {target!r}: no heading with that anchor "
                f"in {file.relative_to(REPO)}")


def test_every_docs_page_is_linked_from_the_readme():
    assert DOCS, "docs/ holds no page"
    linked = {(REPO / t.partition("#")[0]).resolve() for t in relative_links(README)}
    for page in DOCS:
        assert page.resolve() in linked, f"README.md does not link {page.relative_to(REPO)}"


def test_readme_is_a_front_page():
    lines = README.read_text().splitlines()
    assert len(lines) < 250, f"README.md has {len(lines)} lines; the rest belongs in docs/"


def test_readme_setup_commands_are_cis():
    """The test command CI runs is the README's, byte for byte; the demo command is the
    first code line of the quick start."""
    readme = README.read_text().splitlines()
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    marker = ci.index("# --- the README's test command (keep identical) ---")
    test_command = ci[marker + 1]
    assert test_command in readme, f"README.md lacks CI's test command {test_command!r}"
    demo = ("python3 -m venv .venv && .venv/bin/pip install -e . && "
            ".venv/bin/snakemake --cores all --config preset=demo")
    quick_start = readme[readme.index("## Quick start (fresh machine, Python 3.11, no GPU "
                                      "needed)"):]
    commands = [line for line in quick_start if line.startswith("python3 -m venv")]
    assert commands[:2] == [demo, test_command]


def test_callbacks_example_runs(tmp_path):
    """docs/callbacks.md's example, run as written in a fresh interpreter: it trains, and
    the CSV log holds the applied rate, momentum and the authors' train channel."""
    page = (REPO / "docs" / "callbacks.md").read_text()
    code = page.split("```python\n", 1)[1].split("```", 1)[0]
    code += "\nimport csv\nprint(sorted(next(csv.reader(open('log.csv')))))\n"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    columns = set(ast.literal_eval(out.stdout.strip().splitlines()[-1]))
    assert {"learning_rate", "momentum", "train_monitor_loss", "train_monitor_auc",
            "val_loss"} <= columns


def named_in_docs(pattern: str):
    for page in [README, *DOCS]:
        for match in re.findall(pattern, page.read_text()):
            yield page.relative_to(REPO), match


def defines(source: str, name: str) -> bool:
    return re.search(rf"^\s*(class|def) {name}\b|^{name}\s*[:=]|\b{name}\b.*import|"
                     rf"import.*\b{name}\b", source, re.M) is not None


def test_every_module_the_docs_name_exists():
    """Paths (`reproduce/train/models.py`) and dotted names
    (`reproduce.train.models.PaperL2`) in the README and docs/ name files and objects that
    exist, so a moved module shows up here."""
    for page, path in named_in_docs(r"`((?:reproduce|workflow|tests|benchmarks|profiles)"
                                    r"/[\w/.-]*)"):
        assert (REPO / path.split("::")[0]).exists(), f"{page}: `{path}` does not exist"
    for page, dotted in named_in_docs(r"`(reproduce(?:\.\w+)+)"):
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):
            stem = REPO.joinpath(*parts[:i])
            file = stem.with_suffix(".py") if stem.with_suffix(".py").exists() else (
                stem / "__init__.py")
            if file.exists():
                rest = parts[i:]
                assert len(rest) <= 1, f"{page}: `{dotted}`: {'.'.join(rest)} not a module"
                assert not rest or defines(file.read_text(), rest[0]), (
                    f"{page}: `{dotted}`: {file.relative_to(REPO)} defines no {rest[0]}")
                break
        else:
            raise AssertionError(f"{page}: `{dotted}` names no module")


def test_every_test_the_docs_name_exists():
    for page, (path, name) in named_in_docs(r"`(tests/[\w/]+\.py)::(\w+)`"):
        source = (REPO / path).read_text()
        assert re.search(rf"^def {name}\(", source, re.M), f"{page}: {path}::{name} not found"

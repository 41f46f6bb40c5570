"""The README's table of faults names tests that exist."""

import re

from conftest import REPO


def test_every_test_the_fault_table_names_exists():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Faults the package survives", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][2:]
    assert len(rows) >= 25
    for row in rows:
        names = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", row.rsplit(" | ", 1)[-1])
        assert names, f"no test named in the row {row!r}"
        for path, name in names:
            source = (REPO / path).read_text()
            assert re.search(rf"^def {name}\(", source, re.M), f"{path}::{name} not found"

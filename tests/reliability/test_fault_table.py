"""The table of faults in docs/faults.md names tests that exist."""

import re

from conftest import REPO

HEADER = "| fault | what the package does | the test |"


def test_every_test_the_fault_table_names_exists():
    page = (REPO / "docs" / "faults.md").read_text()
    assert HEADER in page, f"docs/faults.md: no table with the header {HEADER!r}"
    table = page.split(HEADER, 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert len(rows) >= 25
    for row in rows:
        names = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", row.rsplit(" | ", 1)[-1])
        assert names, f"no test named in the row {row!r}"
        for path, name in names:
            source = (REPO / path).read_text()
            assert re.search(rf"^def {name}\(", source, re.M), f"{path}::{name} not found"

"""The reliability suite: one file per area, each test a real fault (see docs/faults.md)."""

"""Command-line tests, one file per area."""

"""Tests of ``embedkit serve`` (issue #21)."""

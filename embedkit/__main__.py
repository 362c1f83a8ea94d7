"""``python -m embedkit`` runs the command line."""

from embedkit.cli import main

raise SystemExit(main())

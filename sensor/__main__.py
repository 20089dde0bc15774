"""`python -m sensor` runs the command-line interface."""

from sensor.cli import main

raise SystemExit(main())

"""Entry point for `python -m akari`."""

import sys

from akari.cli import main

sys.exit(main())

"""``python -m detectkit`` = the ``detectkit`` command."""

import sys

from .cli import main

sys.exit(main())

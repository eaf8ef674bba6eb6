"""``python -m mcuforge`` is the ``mcuforge`` command."""
import sys

from .cli import main

sys.exit(main())

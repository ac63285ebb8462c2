"""``python -m diffphys ...``: the same command line as ``diffphys`` (for environments without the script)."""

import sys

from .cli import main

sys.exit(main())

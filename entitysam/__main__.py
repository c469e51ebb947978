"""``python -m entitysam ...``: the same command line as ``entitysam ...``."""

import sys

from entitysam.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""`python -m symgrad` is the `symgrad` command."""

import sys

from symgrad.tools.cli import main

sys.exit(main())

"""``python -m asclab ...`` is the ``asclab`` command."""
import sys

from asclab.cli import main

sys.exit(main())

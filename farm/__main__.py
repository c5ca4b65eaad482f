"""``python -m farm``: the same command line as the ``farm`` script."""

from farm.cli import main

main()

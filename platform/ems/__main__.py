"""``python -m ems``: the ``ems`` command, for environments without the console script."""

from ems.cli import main

main()

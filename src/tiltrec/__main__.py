"""``python -m tiltrec``: the tiltrec tools command."""

from .cli.tools import main

main()

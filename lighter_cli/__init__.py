"""`lighter-trader`: the one command-line tool (see lighter_cli.main)."""

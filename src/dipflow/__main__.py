"""`python -m dipflow`: the command line (layer 7, cli)."""

from dipflow.cli.main import main

main()

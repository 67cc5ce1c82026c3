"""The `dipflow` command line (`dipflow.cli.main.app`). Layer 7 (command line)."""

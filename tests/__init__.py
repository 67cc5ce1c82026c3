"""dipflow's tests: a package tree, so helpers import as `tests.AREA.module`."""

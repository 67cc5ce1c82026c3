"""The runtime: configuration, call sessions, and the wiring between channels, the engine,
connectors, the contact center and the desktop (see docs/runtime.md).

Import what you need from the submodules (`dipflow.runtime.runtime.Runtime`,
`dipflow.runtime.config.load_config`, `dipflow.channels.seam`...): this package
stays light so that channels can import the seam without the whole runtime.
"""

"""The runtime: configuration, call sessions, and the wiring between channels, the engine,
connectors, the contact center and the desktop (see docs/runtime.md).

Import what you need from the submodules (`dipflow.runtime.runtime.Runtime`,
`dipflow.runtime.config.load_config`...): this package imports nothing, so that importing
one module does not load the rest. Channels reach the runtime only through the seam they
own (`dipflow.channels.seam`); the web app and the command line sit above it.
Layer 5 (runtime).
"""

"""dipflow: a self-hosted contact-center IVR.

The package root; its layers and their import contracts are mapped in docs/architecture.md.
"""

__version__ = "0.1.0"

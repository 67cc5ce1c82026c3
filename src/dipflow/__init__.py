"""dipflow: a self-hosted contact-center IVR."""

__version__ = "0.1.0"

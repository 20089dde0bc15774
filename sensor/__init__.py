"""Passive network sensor for Personnel Policy 2503 (Communications and Information Systems)."""

__version__ = "0.1.0"
__all__ = ["__version__"]

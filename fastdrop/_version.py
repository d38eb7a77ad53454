"""The package version (also stated in pyproject.toml)."""
__version__ = "0.2.0"

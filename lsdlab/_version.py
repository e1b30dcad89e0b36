"""The package version (its own module, so any floor may read it without importing lsdlab's root)."""

__version__ = "0.1.0"

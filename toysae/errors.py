"""Exceptions a caller may want to catch by type (kept free of heavy imports, so the
command line can name them without loading JAX)."""


class RunLocked(RuntimeError):
    """Another live process is training this run directory (it holds the ``lock`` file
    of :mod:`toysae.store`)."""

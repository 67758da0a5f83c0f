"""Exceptions a caller may want to catch by type (kept free of heavy imports, so the
command line can name them without loading JAX)."""


class RunLocked(RuntimeError):
    """Another live process is training this run directory (it holds the ``lock`` file
    of :mod:`toysae.store`)."""


class StaleRunWarning(UserWarning):
    """A cached run (or checkpoint) was trained by code of another numerics version
    (:data:`toysae.store.NUMERICS_VERSION`) and is retrained instead of loaded."""

"""The end of a cold start's loading (``functions/__init__.py`` is its beginning)."""

import gc


def loaded() -> None:
    """Called last by every handler module: everything loading made lives as long as the
    container, so move it out of the collector's reach for good (``gc.freeze``) and turn the
    collector back on for what requests create."""
    gc.freeze()
    gc.enable()

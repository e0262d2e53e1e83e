"""How messages name an option: ``--thickness`` to a command-line user, ``thickness`` to a Python caller.

Checks deep in the run (the slab plan, the checkpoint, the inputs) say which option to change; they call
:func:`spelled` and the front end that took the request chooses the spelling for the whole run (:func:`speaking`).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

CLI, API = "cli", "api"
_current: ContextVar[str] = ContextVar("tiltrec_option_spelling", default=API)


def spelled(name: str) -> str:
    """Option ``name`` (its Python name, e.g. ``log_base``) as the current caller writes it."""
    return f"--{name.replace('_', '-')}" if _current.get() == CLI else name


@contextmanager
def speaking(style: str):
    """Name options in ``style`` (CLI or API) while the block runs."""
    token = _current.set(style)
    try:
        yield
    finally:
        _current.reset(token)

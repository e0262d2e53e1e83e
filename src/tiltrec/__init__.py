"""tiltrec: fast, IMOD-exact tomographic reconstruction of cryo-ET tilt series.

``tiltrec.reconstruct(stack, angles, output=None, thickness=..., alg=...)`` reconstructs arrays or files; the
command-line programs (tiltrec-mpi, tiltrecz-mpi, ...) call the same function.
"""

__version__ = "0.1.0"


def __getattr__(name):
    """``tiltrec.reconstruct`` is imported on first use, so that ``import tiltrec`` stays light."""
    if name == "reconstruct":
        from .api import reconstruct

        return reconstruct
    raise AttributeError(f"module 'tiltrec' has no attribute {name!r}")

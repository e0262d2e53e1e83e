"""tiltrec: fast, IMOD-exact tomographic reconstruction of cryo-ET tilt series.

``tiltrec.reconstruct(stack, angles, output=None, thickness=..., alg=...)`` reconstructs arrays or files; the
command-line programs (tiltrec-mpi, tiltrecz-mpi, ...) run the same code with the same options.
``tiltrec.Geometry`` and ``tiltrec.CpuProjector`` give the projection operator ``A`` and its adjoint ``A^T`` for
your own algorithms (docs/api.md).
"""

__version__ = "0.1.0"

# public name -> the module that defines it; imported on first use, so that ``import tiltrec`` stays light
_PUBLIC = {
    "reconstruct": "api",
    "Geometry": "geometry",
    "CpuProjector": "projectors.cpu",
    "InputError": "errors",
    "TiltrecError": "errors",
}
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name):
    if name in _PUBLIC:
        from importlib import import_module

        value = getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tiltrec' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))

"""tiltrec: fast, IMOD-exact tomographic reconstruction of cryo-ET tilt series."""

__version__ = "0.1.0"

"""Build of the compiled kernels (src/tiltrec/projectors/flat.c, local.c with local_factors.c, imod_sirt.c,
elementwise.c, imod_interp.c; src/tiltrec/formats/slab_store.c); everything else is in pyproject.toml."""

from setuptools import Extension, setup

CLONES = ["src/tiltrec/projectors/kernel_clones.h"]  # the KERNEL attribute the projectors' C files share
PARTS = ["src/tiltrec/projectors/near_equal.h"]  # near-equal chunks, shared by flat.c and imod_interp.c


def kernels(name: str, sources: list[str], contraction: str, depends: list[str] = ()) -> Extension:
    """An extension of kernels: -O3, OpenMP, the C library's maths, and contraction into FMAs ``fast`` or ``off`` on
    every build."""
    return Extension(name, sources=sources, depends=list(depends), libraries=["m"],
                     extra_compile_args=["-O3", "-fopenmp", f"-ffp-contract={contraction}", "-Wall"],
                     extra_link_args=["-fopenmp"])


setup(ext_modules=[
    # contraction into FMAs is part of the flat kernels' arithmetic
    kernels("tiltrec.projectors._flat", ["src/tiltrec/projectors/flat.c"], "fast", CLONES + PARTS),
    # IMOD's float32 arithmetic of the local alignments, without FMAs
    kernels("tiltrec.projectors._local",
            ["src/tiltrec/projectors/local.c", "src/tiltrec/projectors/local_factors.c"], "off", CLONES),
    # the float64 arithmetic of IMOD's SIRT model, without FMAs
    kernels("tiltrec.projectors._imod_sirt", ["src/tiltrec/projectors/imod_sirt.c"], "off", CLONES),
    # each value one float32 multiply and one add, as written; log10f and powf as tilt calls them
    kernels("tiltrec.projectors._elementwise", ["src/tiltrec/projectors/elementwise.c"], "off"),
    # IMOD's CPU interpolation, each product and sum rounded as written
    kernels("tiltrec.projectors._imod_interp", ["src/tiltrec/projectors/imod_interp.c"], "off", CLONES + PARTS),
    # the header's sums of squares without FMAs
    kernels("tiltrec.formats._slab_store", ["src/tiltrec/formats/slab_store.c"], "off"),
])

"""Build of the compiled kernels (src/tiltrec/projectors/flat.c, local.c with local_factors.c, imod_sirt.c,
elementwise.c, imod_interp.c; src/tiltrec/formats/slab_store.c); everything else is in pyproject.toml."""

from setuptools import Extension, setup

CLONES = ["src/tiltrec/projectors/kernel_clones.h"]  # the KERNEL attribute the projectors' C files share

setup(ext_modules=[
    Extension(
        "tiltrec.projectors._flat",
        sources=["src/tiltrec/projectors/flat.c"],
        depends=CLONES,
        # contraction into FMAs is part of the kernels' arithmetic: the same on every build
        extra_compile_args=["-O3", "-fopenmp", "-ffp-contract=fast", "-Wall"],
        extra_link_args=["-fopenmp"],
    ),
    Extension(
        "tiltrec.projectors._local",
        sources=["src/tiltrec/projectors/local.c", "src/tiltrec/projectors/local_factors.c"],
        depends=CLONES,
        # IMOD's float32 arithmetic, without FMAs, on every build
        extra_compile_args=["-O3", "-fopenmp", "-ffp-contract=off", "-Wall"],
        extra_link_args=["-fopenmp"],
    ),
    Extension(
        "tiltrec.projectors._imod_sirt",
        sources=["src/tiltrec/projectors/imod_sirt.c"],
        depends=CLONES,
        # the float64 arithmetic of IMOD's SIRT model, without FMAs, on every build
        extra_compile_args=["-O3", "-fopenmp", "-ffp-contract=off", "-Wall"],
        extra_link_args=["-fopenmp"],
    ),
    Extension(
        "tiltrec.projectors._elementwise",
        sources=["src/tiltrec/projectors/elementwise.c"],
        # each value one float32 multiply and one add, as written, on every build
        extra_compile_args=["-O3", "-fopenmp", "-ffp-contract=off", "-Wall"],
        extra_link_args=["-fopenmp"],
    ),
    Extension(
        "tiltrec.projectors._imod_interp",
        sources=["src/tiltrec/projectors/imod_interp.c"],
        depends=CLONES,
        # IMOD's CPU interpolation, each product and sum rounded as written (no FMAs), on every build
        extra_compile_args=["-O3", "-fopenmp", "-ffp-contract=off", "-Wall"],
        extra_link_args=["-fopenmp"],
    ),
    Extension(
        "tiltrec.formats._slab_store",
        sources=["src/tiltrec/formats/slab_store.c"],
        # the header's sums of squares without FMAs, on every build
        extra_compile_args=["-O3", "-fopenmp", "-ffp-contract=off", "-Wall"],
        extra_link_args=["-fopenmp"],
    ),
])

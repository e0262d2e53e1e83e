# Sourced by bin/gpu-check --wheels DIR: set tiltrec up on a machine without network (a lent GPU machine) from its
# own python3 (which must bring NumPy, SciPy, Numba, h5py, Pillow, CuPy and a C compiler) and the wheels that
# bin/gpu-wheels downloaded into DIR for that Python: mrcfile, typer, mpi4py + mpich, astra-toolbox and CUDA 12's
# runtime for it.  Everything goes into a temporary prefix; the checkout gets its compiled kernels in place.
# Usage: tiltrec_offline_env DIR
tiltrec_offline_env() {
    local root wheels py prefix site cuda12 cufft12
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    wheels="$(cd "$1" && pwd)" || return 1
    py="${PYTHON:-python3}"
    prefix="$(mktemp -d /tmp/tiltrec-offline.XXXXXX)"
    echo "setting tiltrec up in $prefix from $wheels with $("$py" --version)" >&2
    # --prefix, not --target: mpich's wheel brings libmpi and mpiexec as data files, which --target drops
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --ignore-installed --prefix "$prefix" \
        $(ls "$wheels"/*.whl | grep -v nvidia_cuda_runtime) >&2 || return 1
    site="$("$py" -c 'import sys, sysconfig; print(sysconfig.get_path("purelib", vars={"base": sys.argv[1]}))' \
        "$prefix")"
    # ASTRA's CUDA 12 libraries beside, not inside, the nvidia package of CuPy's CUDA 13 wheels: the runtime from
    # its wheel, cuFFT through benchmarks/offline/cufft11_forward.c to CUDA 13's libcufft.so.12
    cuda12="$prefix/cuda12"
    mkdir -p "$cuda12"
    "$py" - "$cuda12" "$wheels"/nvidia_cuda_runtime_cu12-*.whl <<'EOF' || return 1
import sys, zipfile
from pathlib import Path
for wheel in sys.argv[2:]:
    if Path(wheel).is_file():
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                if name.startswith("nvidia/cuda_runtime/lib/") and not name.endswith("/"):
                    (Path(sys.argv[1]) / Path(name).name).write_bytes(z.read(name))
EOF
    tiltrec_cufft11 "$cuda12" >&2 || return 1
    cufft12="$(find "$("$py" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" /usr/local/cuda*/ \
        -name 'libcufft.so.12*' -print -quit 2>/dev/null)"
    # the compiled kernels, built by setup.py alone in a folder of their own (without pyproject.toml, whose licence
    # field an older setuptools of the machine's Python refuses) and copied into the checkout's src/
    mkdir -p "$prefix/build"
    cp "$root/setup.py" "$prefix/build/"
    ln -s "$root/src" "$prefix/build/src"
    (cd "$prefix/build" && "$py" setup.py -q build_ext -j "$(nproc)" --build-lib lib --build-temp obj >/dev/null &&
        cd lib && find . -name '*.so' -exec cp --parents {} "$root/src/" \;) || return 1
    # the console scripts of pyproject.toml, each a small launcher on this Python
    mkdir -p "$prefix/bin"
    "$py" - "$root/pyproject.toml" "$prefix/bin" <<'EOF' || return 1
import sys, tomllib
from pathlib import Path
for name, entry in tomllib.loads(Path(sys.argv[1]).read_text())["project"]["scripts"].items():
    module, function = entry.split(":")
    script = Path(sys.argv[2]) / name
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom {module} import {function}\nsys.exit({function}())\n")
    script.chmod(0o755)
EOF
    # byte-compile the checkout's modules and the installed wheels, as bin/_env.sh does: the lent machines set
    # PYTHONDONTWRITEBYTECODE, so that otherwise every process compiles them again (~0.5 s of each run's start-up)
    "$py" -m compileall -q "$root/src/tiltrec" "$site" >/dev/null || return 1
    export PATH="$prefix/bin:$PATH"
    export PYTHONPATH="$root/src:$site${PYTHONPATH:+:$PYTHONPATH}"
    export LD_LIBRARY_PATH="$prefix/lib:$cuda12${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export TILTREC_CUFFT12="$cufft12"
    export PYTHON="$py"
    TILTREC_ROOT="$root"
}

# Build libcufft.so.11 in DIR from benchmarks/offline/cufft11_forward.c, its symbols of version libcufft.so.11 (the
# version ASTRA's imports name).  Usage: tiltrec_cufft11 DIR
tiltrec_cufft11() {
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    printf 'libcufft.so.11 { global: cufft*; local: *; };\n' > "$1/cufft11.map"
    "${CC:-cc}" -O2 -shared -fPIC -Wl,-soname,libcufft.so.11 -Wl,--version-script="$1/cufft11.map" \
        "$root/benchmarks/offline/cufft11_forward.c" -o "$1/libcufft.so.11" -ldl
}

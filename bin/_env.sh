# Sourced by bin/demo, bin/test and bin/bench: create .venv and install tiltrec into it when needed (idempotent).
# Usage: tiltrec_env [EXTRAS]   e.g. tiltrec_env "mpich,test"
tiltrec_env() {
    local root extras stamp want py
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    extras="${1:-mpich}"
    py="${PYTHON:-python3}"
    if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "tiltrec needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
        return 1
    fi
    if [ ! -x "$root/.venv/bin/python" ]; then
        echo "creating $root/.venv" >&2
        "$py" -m venv "$root/.venv" || return 1
    fi
    stamp="$root/.venv/.tiltrec-installed"
    # reinstall when the package's build inputs change (the compiled kernels are built at install): setup.py, the
    # project file and every C source and header under src/ (a header alone can change what the kernels compute)
    want="$(find "$root/src" -name '*.[ch]' -print0 | LC_ALL=C sort -z | xargs -0 cat "$root/pyproject.toml" \
        "$root/setup.py" | sha1sum | cut -c1-12)-$extras"
    if [ ! -f "$stamp" ] || ! grep -qx -- "$want" "$stamp" 2>/dev/null; then
        echo "installing tiltrec[$extras] into .venv (first run only)" >&2
        "$root/.venv/bin/python" -m pip install -q --upgrade pip >&2 || return 1
        "$root/.venv/bin/python" -m pip install -q -e "$root[$extras]" >&2 || return 1
        echo "$want" >> "$stamp"
    fi
    # byte-compile the checkout's modules (an editable install leaves that to their first import, which cannot cache
    # it where PYTHONDONTWRITEBYTECODE is set: every run would compile some 40 modules again, ~0.1 s of start-up)
    "$root/.venv/bin/python" -m compileall -q "$root/src/tiltrec" >/dev/null || return 1
    export PATH="$root/.venv/bin:$PATH"
    TILTREC_ROOT="$root"
}

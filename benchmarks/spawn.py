"""Launch one command from a small process and measure it: ``python -S spawn.py RESULT.json CMD ARGS...``.

Why a launcher: on Linux a child's ``ru_maxrss`` starts from the RSS high-water mark of the process it was forked
from (exec keeps the old address space's peak), so a command started directly from the benchmark process, which
holds hundreds of MiB of test arrays, would report at least that much.  Started from this tiny interpreter, the
command's own peak shows.  Stdlib only, so it runs with ``-S`` (no site-packages) and starts in milliseconds.
"""

import json
import os
import sys
import time


def main() -> int:
    result_path, *argv = sys.argv[1:]
    launched = time.time()
    start = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    with open(result_path, "w") as f:
        json.dump({"launched": launched, "wall": wall, "maxrss_kib": usage.ru_maxrss, "utime": usage.ru_utime,
                   "stime": usage.ru_stime, "returncode": os.waitstatus_to_exitcode(status)}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())

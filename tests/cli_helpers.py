"""Running the commands in-process, as a user would from the shell."""

from tiltrec.cli.commands import Flavor, make_app

FLAVORS = {
    "tiltrec-mpi": Flavor("tiltrec-mpi", unified=False, backend="cpu"),
    "tiltrecz-mpi": Flavor("tiltrecz-mpi", unified=True, backend="cpu"),
}


def run_command(args, program="tiltrec-mpi"):
    """Run ``program args...``; returns the exit code (0 on success)."""
    try:
        make_app(FLAVORS[program])([str(a) for a in args], prog_name=program, standalone_mode=False)
    except SystemExit as exc:
        return exc.code
    except Exception as exc:  # typer/click's Exit carries exit_code
        code = getattr(exc, "exit_code", None)
        if code is None:
            raise
        return code
    return 0


def wait_until_writing(proc, folder, timeout=60.0, settle=1.0):
    """Wait until ``proc`` has created its temporary output in ``folder``, then ``settle`` seconds more."""
    import time

    deadline = time.monotonic() + timeout
    while not any(p.name.endswith(".tmp") for p in folder.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(settle)

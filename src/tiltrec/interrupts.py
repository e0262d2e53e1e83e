"""Signals that end a run: recorded when they arrive, acted on where the run can stop cleanly.

A Python signal handler runs in the main thread between two bytecodes, wherever those are: in a ctypes callback of
Numba's compiler, in a ``__del__``, in a ``finally`` clause.  An exception raised there can be printed as
"Exception ignored" and dropped, and the run would go on to replace the output; in llvmlite's callback it also
leaves Numba's function half built.  So the handler records the signal first.  It raises at most once, only where
the run allows it (to cut short a long wait in Python code: a sleep, a lock), and not inside a ``__del__`` or
llvmlite: there it has the signal sent again a moment later, as it does when its exception is dropped all the
same.  Whatever became of it, every safe point (``raise_if_signalled``: each progress step and slab, the start
and end of each collective block, and just before the outputs are committed) raises it again.

Handled: every signal whose default action ends the process (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1/2, SIGALRM,
the real-time signals, ...) except SIGKILL and SIGSTOP, which cannot be caught; the faults a process causes itself
(SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT: after a Python handler the faulting code would run
again); and SIGPIPE and SIGXFSZ, which Python ignores so that the write fails with an error naming the file.  A
signal that is ignored when the run starts (``nohup``, a background job's SIGINT) or that a library handles stays
so.
"""

from __future__ import annotations

import atexit
import signal
import sys
import threading
import time
from contextlib import contextmanager

import _thread

from .errors import Terminated

_NOT_HANDLED = ("SIGKILL", "SIGSTOP", "SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGTRAP", "SIGSYS", "SIGABRT",
                "SIGEMT", "SIGPIPE", "SIGXFSZ", "SIGCHLD", "SIGCONT", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG",
                "SIGWINCH", "SIGINFO")  # the last eight do not end the process by default
HANDLED = tuple(sorted(set(signal.valid_signals())
                       - {getattr(signal, name) for name in _NOT_HANDLED if hasattr(signal, name)}))


RERUN_DELAY = 0.01  # seconds: the main thread is out of a hook or callback long before
_CALLED_BACK = frozenset({"llvmlite"})  # packages whose Python functions C calls back (see _reaches_the_run)


class _State:
    received: list[int] = []  # signal numbers, in order of arrival
    raised: BaseException | None = None  # what the handler raised (at most once per run)
    modes: list[bool] = [False]  # innermost last: may a signal raise here (True) or only be recorded (False)?
    completed = False  # the outputs are committed: a later signal changes nothing
    runs = 0  # ``handled`` blocks under way
    installed: dict[int, object] | None = None  # signal -> the handler it had before; None: not installed
    for_process = False  # installed until the process ends
    previous_hook = None


def interruption(signum: int) -> KeyboardInterrupt:
    """The exception that stops a run for signal ``signum``: KeyboardInterrupt for SIGINT, else Terminated."""
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def exit_code(exc: KeyboardInterrupt) -> int:
    """128 + the signal's number, as a shell reports a process the signal ended."""
    return getattr(exc, "exit_code", 128 + signal.SIGINT)


def signalled() -> int | None:
    """The first signal this run received that still counts (None: none, or only after the commit)."""
    return _State.received[0] if _State.received and not _State.completed else None


def raise_if_signalled() -> None:
    """A safe point: raise the interruption of a signal received so far, where the run allows it (not while ranks
    are in lockstep or the outputs are being committed; see ``deferred``)."""
    signum = signalled()
    if signum is not None and _State.modes[-1]:
        raise interruption(signum)


def complete() -> None:
    """The outputs are committed: signals from now on are only recorded, and the run ends as a success."""
    _State.completed = True


@contextmanager
def interruptible():
    """A block in which the handler may raise: a failure there stops this rank cleanly (mpi.collectively)."""
    yield from _mode(True)


@contextmanager
def deferred():
    """A block in which signals are only recorded: ranks in lockstep learn of them in their next collective, and
    a commit under way is not cut short."""
    yield from _mode(False)


def _mode(raising: bool):
    _State.modes.append(raising)
    try:
        yield
    finally:
        _State.modes.pop()


@contextmanager
def handled(raising: bool):
    """Handle the signals (see the module) for the block, which may raise where ``raising``.  The outermost such
    block is a run: it starts a fresh record (where the handlers are kept for the process, the signals that came
    during its start-up count), and restores the previous handlers at its end unless they are kept."""
    if _State.runs == 0:
        _State.raised, _State.completed = None, False
        if not _State.for_process:
            _State.received = []
    ours = _State.installed is None
    if ours:
        _install()
    _State.runs += 1
    try:
        yield from _mode(raising)
    finally:
        _State.runs -= 1
        if _State.runs == 0:  # the run has ended: what it received was its own (in one process, the next run's
            _State.received = []  # signals are those that come after this point)
        if ours and not _State.for_process:
            _uninstall()


def install_for_process() -> None:
    """Handle the signals, only recording them, until the process ends: a console command's first step, so that
    a signal during start-up or after the run (its outcome decided: MPI's finalisation, Python's teardown) never
    ends the process by its default action (no clean-up; under mpiexec the "BAD TERMINATION" banner for a run
    that was complete)."""
    if _State.installed is None:
        _install()
    if not _State.for_process:
        _State.for_process = True
        atexit.register(_ignore_from_now)


def _ignore_from_now() -> None:
    """At exit: ignore the signals handled so far; Python resets its own handlers before it unloads its modules,
    and a signal in that time would end the process by the default action again."""
    for signum in _State.installed or ():
        signal.signal(signum, signal.SIG_IGN)


def _install() -> None:
    _State.received, _State.installed = [], {}
    if threading.current_thread() is not threading.main_thread():
        return  # Python delivers signals to the main thread only, and installs handlers only there
    for signum in HANDLED:
        if signal.getsignal(signum) in (signal.SIG_DFL, signal.default_int_handler):  # not ignored, no library's
            _State.installed[signum] = signal.signal(signum, _record)
    _State.previous_hook, sys.unraisablehook = sys.unraisablehook, _unraisable


def _uninstall() -> None:
    for signum, previous in _State.installed.items():
        signal.signal(signum, previous)
    _State.installed = None
    if _State.previous_hook is not None:
        sys.unraisablehook, _State.previous_hook = _State.previous_hook, None


def _record(signum, frame) -> None:
    """The handler: record; raise the first time, where allowed and where the exception reaches the run."""
    _State.received.append(signum)
    if _State.raised is None and not _State.completed and _State.modes[-1]:
        if not _reaches_the_run(frame):
            _send_again()
            return
        _State.raised = interruption(_State.received[0])
        raise _State.raised


def _reaches_the_run(frame) -> bool:
    """Whether an exception raised in ``frame`` would reach the run: not from a ``__del__`` (dropped), nor from
    code that C calls back (llvmlite's object cache, while Numba compiles: dropped, and the half-built function
    then fails Numba with "no compiled object yet")."""
    while frame is not None:
        module = frame.f_globals.get("__name__") or ""
        if frame.f_code.co_name == "__del__" or module.partition(".")[0] in _CALLED_BACK:
            return False
        frame = frame.f_back
    return True


def _unraisable(report) -> None:
    """The handler's exception was dropped anyway (raised in some other callback): say nothing about it, and let
    the signal come again."""
    if report.exc_value is not None and report.exc_value is _State.raised:
        _State.raised = None
        _send_again()
        return
    _State.previous_hook(report)


def _send_again() -> None:
    threading.Thread(target=_rerun, args=(_State.received[0],), daemon=True).start()


def _rerun(signum: int) -> None:
    """Send the signal again, to the main thread, after a moment: the code that could not take the exception
    (a callback, a ``__del__``, the unraisable hook itself) has returned by then.  A real signal, not just a call
    of the handler: it also cuts short a wait in a system call.  (The handler records it once more: only the first
    one counts.)"""
    time.sleep(RERUN_DELAY)
    if hasattr(signal, "pthread_kill"):
        signal.pthread_kill(threading.main_thread().ident, signum)
    else:
        _thread.interrupt_main(signum)

"""Map a function over images: in-process, in joblib worker processes, or on Dask.

Only this module decides where per-image work runs (DESIGN.md decision 5). Workers
return results; the parent process alone writes files.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from tqdm.auto import tqdm

from .errors import SchedulerError

log = logging.getLogger(__name__)

#: Seconds to wait for a Dask scheduler to answer, and to have a worker (``scheduler_timeout``).
DEFAULT_SCHEDULER_TIMEOUT = 10.0

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def effective_jobs(n_jobs: int, n_items: int) -> int:
    """Number of worker processes worth starting for ``n_items`` items."""
    cpus = os.cpu_count() or 1
    jobs = cpus if n_jobs < 0 else n_jobs
    return max(1, min(jobs, n_items))


def map_images(
    func: Callable[..., Any],
    items: Sequence[Any],
    n_jobs: int = -1,
    scheduler: str | None = None,
    desc: str | None = None,
    progress: bool = True,
    chunk: int = 8,
    reduce_chunk: Callable[[list], list] | None = None,
    scheduler_timeout: float = DEFAULT_SCHEDULER_TIMEOUT,
    **kwargs: Any,
) -> Iterator[Any]:
    """Yield ``func(item, **kwargs)`` for every item, in order.

    ``reduce_chunk`` (optional) maps the results of one chunk to as many (smaller)
    results where they are computed, before they are sent back (e.g. its top-K rows).

    ``n_jobs`` worker processes (joblib/loky, -1 = all cores; 1 = in this process), or
    the Dask cluster at ``scheduler`` (``tcp://host:port``) through joblib's dask
    backend; connecting gives up after ``scheduler_timeout`` seconds (see
    :func:`connect_scheduler`). Items are sent in chunks of ``chunk`` to amortise
    scheduling. Dask unpickles what the scheduler sends: the address comes only from
    ``--scheduler`` or ``$PYIMAGESEARCH_SCHEDULER``, never from a config file (see
    ``config.py``).

    Ctrl-C is deferred to the next result (see :class:`_DeferredInterrupt`); callers
    that stop early should ``close()`` the generator so the workers stop at once.
    """
    items = list(items)
    bar = _Bar(total=len(items), desc=desc, unit="img", disable=not progress, leave=False)
    batches = _map_batches(
        func, items, n_jobs, scheduler, chunk, kwargs, reduce_chunk, scheduler_timeout
    )
    with _DeferredInterrupt() as interrupt:
        try:
            for batch in batches:
                interrupt.check()
                for result in batch:
                    bar.update(1)
                    yield result
                    interrupt.check()
        finally:
            batches.close()  # stops the workers before the interrupt goes on
            bar.close()


class _DeferredInterrupt:
    """Turn Ctrl-C into a ``KeyboardInterrupt`` raised at a safe point of our own code.

    Raised inside joblib or multiprocessing (waiting for results, starting or stopping
    the pool), an interrupt could hang the run or be swallowed by a generator's
    finaliser (seen: exit 0 after Ctrl-C). The handler only records it; ``check()``
    raises it between results. A second Ctrl-C interrupts at once.
    """

    def __init__(self) -> None:
        self.pending = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> _DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
        if self.pending and (exc_type is None or exc_type is GeneratorExit):
            raise KeyboardInterrupt

    def _handle(self, signum, frame) -> None:
        self.pending = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        log.info("interrupted: stopping the workers (Ctrl-C again to stop at once)")

    def check(self) -> None:
        """Raise the recorded interrupt, if any."""
        if self.pending:
            raise KeyboardInterrupt


class _Bar(tqdm):
    """A progress bar without tqdm's monitor thread (threads make forking unsafe)."""

    monitor_interval = 0


def _map_batches(
    func, items, n_jobs, scheduler, chunk, kwargs, reduce=None, timeout=None
) -> Iterable[list]:
    if scheduler is not None:  # remote tasks cost milliseconds each: make fewer, larger ones
        chunk = max(chunk, -(-len(items) // 64))
    chunks = [items[i : i + chunk] for i in range(0, len(items), chunk)]
    jobs = effective_jobs(n_jobs, len(chunks))
    if scheduler is None and jobs == 1:
        for part in chunks:  # in this process: leave its thread settings alone
            results = [func(item, **kwargs) for item in part]
            yield reduce(results) if reduce else results
        return
    import joblib

    if scheduler is not None:
        yield from _dask_batches(func, chunks, scheduler, kwargs, reduce, timeout)
        return
    if _can_fork():
        yield from _forked_batches(func, chunks, jobs, kwargs, reduce)
        return
    with joblib.parallel_config(backend="loky", inner_max_num_threads=1):
        parallel = joblib.Parallel(n_jobs=jobs, return_as="generator", batch_size=1)
        yield from parallel(
            joblib.delayed(_run_chunk)(func, part, kwargs, reduce) for part in chunks
        )


def _can_fork() -> bool:
    """Fork only where it is safe: Linux, and no other Python thread in this process.

    A thread holding a lock at the moment of the fork leaves that lock held forever in
    the child (seen: a test process with leftover server threads hung). Processes with
    threads get loky's fresh interpreters instead.
    """
    import multiprocessing
    import threading

    return (
        sys.platform.startswith("linux")
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
    )


def _forked_batches(func, chunks, jobs, kwargs, reduce=None) -> Iterable[list]:
    """joblib's multiprocessing backend with forked workers.

    Forked workers inherit the parent's imports and compiled kernels, so they start in
    milliseconds instead of the ~1.5 s a fresh interpreter needs to import numpy,
    OpenCV and numba and load the kernels: that start-up dominated short runs. The
    parent warms the kernels before forking. Chunks are
    submitted a few per worker at a time so results stream with bounded memory.
    """
    import multiprocessing

    import joblib

    from ..descriptor.kernels import warm_up

    warm_up()
    context = multiprocessing.get_context("fork")
    with _no_opencv_pool(), joblib.parallel_config(backend="multiprocessing", context=context):
        with contextlib.ExitStack() as stack:
            with _workers_ignore_sigint():  # restored in the parent once the pool exists
                parallel = stack.enter_context(joblib.Parallel(n_jobs=jobs, batch_size=1))
            group = 4 * jobs
            for i in range(0, len(chunks), group):
                yield from parallel(
                    joblib.delayed(_run_chunk)(func, part, kwargs, reduce)
                    for part in chunks[i : i + group]
                )


@contextlib.contextmanager
def _no_opencv_pool() -> Iterator[None]:
    """Stop OpenCV's native thread pool while workers are forked, restore it after.

    A worker forked while that pool runs inherits it broken and hangs in its first
    OpenCV call (seen: after the parent resized large images). Python threads are
    checked by :func:`_can_fork`; this pool is invisible to it.
    """
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # joins the pool's threads
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


@contextlib.contextmanager
def _workers_ignore_sigint() -> Iterator[None]:
    """Fork workers that ignore Ctrl-C: only the parent handles it (one message, no
    worker tracebacks), and it stops the workers itself."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield  # the pool's workers are forked here and inherit SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def _dask_batches(func, chunks, scheduler, kwargs, reduce=None, timeout=None) -> Iterable[list]:
    import joblib

    with connect_scheduler(scheduler, timeout or DEFAULT_SCHEDULER_TIMEOUT) as client:
        log.info("running on Dask cluster %s", scheduler)
        with joblib.parallel_config(backend="dask", client=client):
            parallel = joblib.Parallel(return_as="generator", batch_size=1)
            yield from parallel(
                joblib.delayed(_run_chunk)(func, part, kwargs, reduce) for part in chunks
            )


def connect_scheduler(address: str, timeout: float = DEFAULT_SCHEDULER_TIMEOUT) -> Any:
    """A ``dask.distributed.Client`` of the scheduler at ``address`` that has a worker.

    Every step is bounded by ``timeout`` seconds: Dask's own connect gives up on a port
    where nothing listens, but waits forever for the handshake of one that accepts and
    never answers, and a scheduler without workers would hold the tasks forever. So the
    handshake is tried first on a connection of our own, with a deadline, then the
    client connects and waits (bounded) for a worker. Raises :class:`SchedulerError`,
    one line naming the address and what to check.
    """
    client_class = _dask_client_class()
    _handshake(address, timeout)
    try:
        client = client_class(address, timeout=timeout, set_as_default=False)
    except Exception as exc:  # OSError, TimeoutError, a refused handshake
        raise SchedulerError(_unreachable(address, timeout, _reason(exc))) from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except Exception:  # distributed's WorkerStartTimeoutError (a TimeoutError)
        client.close()
        raise SchedulerError(
            f"the Dask scheduler at {address} answers but has no worker after {timeout:g} s: "
            f"start workers with `dask worker {address}`, or raise --scheduler-timeout"
        ) from None
    return client


def _dask_client_class() -> Any:
    try:
        from dask.distributed import Client
    except ImportError:
        from .errors import ConfigError

        raise ConfigError(
            "a Dask scheduler was given but dask.distributed is not installed "
            "(pip install 'pyimagesearch[distributed]')"
        ) from None
    return Client


def _handshake(address: str, timeout: float) -> None:
    """Open a connection to ``address`` and exchange Dask's handshake within ``timeout``."""
    from distributed.comm import connect
    from distributed.security import Security

    async def greet() -> None:
        args = Security().get_connection_args("client")
        comm = await asyncio.wait_for(connect(address, timeout=timeout, **args), timeout)
        await comm.close()

    # a thread of its own: the caller may already run an event loop (a notebook)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            pool.submit(asyncio.run, greet()).result()
        except Exception as exc:
            raise SchedulerError(_unreachable(address, timeout, _reason(exc))) from None


def _reason(exc: BaseException) -> str:
    """Why a connection failed, in a few words (Dask words every failure as a timeout)."""
    chain, cause = [], exc
    while cause is not None and len(chain) < 10:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused: nothing listens there"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "unknown host"
    if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__ or "Timed out" in str(exc):
        return "no answer"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _unreachable(address: str, timeout: float, reason: str) -> str:
    return (
        f"cannot reach the Dask scheduler at {address} within {timeout:g} s ({reason}): "
        "check that `dask scheduler` runs there and that the address and port "
        "(--scheduler or $PYIMAGESEARCH_SCHEDULER) are right and reachable from this "
        "machine; --scheduler-timeout waits longer"
    )


def _run_chunk(func, part, kwargs, reduce=None) -> list:
    _ignore_sigint_in_worker()
    _single_threaded()
    results = [func(item, **kwargs) for item in part]
    return reduce(results) if reduce else results


def _ignore_sigint_in_worker() -> None:
    """In a worker process, leave Ctrl-C to the parent (no traceback per worker)."""
    import multiprocessing

    if multiprocessing.parent_process() is None:
        return  # not a worker process (e.g. a Dask worker's thread): leave it alone
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _single_threaded() -> None:
    """Keep each worker to one thread so processes do not oversubscribe the cores.

    Besides the variables read at start-up, the BLAS pools are capped at run time
    (threadpoolctl): a multi-threaded BLAS spinning against a busy core made the
    detector's small matrix products up to 8x slower.
    """
    global _LIMITED
    if _LIMITED:
        return
    for var in _THREAD_VARS:
        os.environ.setdefault(var, "1")
    import cv2
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(1)
    threadpool_limits(limits=1)
    _LIMITED = True


_LIMITED = False

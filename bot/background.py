"""Work that runs after a request is acknowledged, so that no listener waits on the database, Slack or Truedy.

Bolt sends a Socket Mode ack only once the listener returns, one request after another on a few threads:
a listener that waited for anything would hold up the acks of every request behind it.
"""

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("bot.background")


def _safely(call: Callable[[], None]) -> None:
    try:
        call()
    except Exception:
        log.exception("dropped job not recorded", extra={"fields": {"event": "job_dropped_failed"}})


def pool_of_started_threads(threads: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose threads all run from the start. ThreadPoolExecutor starts a thread when a job finds
    none idle, and until that thread runs it holds a lock that every `submit` in the process takes
    (concurrent.futures' `_global_shutdown_lock`): in a burst of requests, each ack waited for a thread to
    start (bench/http.py, profiled with py-spy)."""
    pool = ThreadPoolExecutor(threads, thread_name_prefix=name)
    all_running = threading.Barrier(threads + 1)
    for _ in range(threads):
        pool.submit(all_running.wait)  # each waits on the barrier: the next submit finds none idle, starts one
    all_running.wait()
    return pool


class BackgroundWork:
    def __init__(self, name: str, max_workers: int, before_each_job: Callable[[], None] = lambda: None):
        self._pool = pool_of_started_threads(max_workers, name)
        self._before_each_job = before_each_job
        self._in_flight = 0
        self._draining = False
        self._changed = threading.Condition()

    def submit(self, job: Callable[..., None], *args: object, dropped: Callable[[], None] | None = None) -> bool:
        """Queue the job; False once the worker is shutting down (the caller must say so). `dropped` runs (on the
        thread that drains) if the job is dropped still queued when `drain`'s time is up."""
        with self._changed:
            if self._draining:
                return False
            self._in_flight += 1
        queued = self._pool.submit(self._run, job, args)
        if dropped is not None:
            queued.add_done_callback(lambda future: future.cancelled() and _safely(dropped))
        return True

    def stop_accepting(self) -> None:
        """From now on `submit` refuses (the caller tells the requester); queued jobs still run."""
        with self._changed:
            self._draining = True

    def drain(self, timeout: float) -> int:
        """Take no new work, wait up to `timeout` seconds for what was accepted; return how many are left."""
        with self._changed:
            self._draining = True
            self._changed.wait_for(lambda: self._in_flight == 0, timeout=timeout)
            left = self._in_flight
        self._pool.shutdown(wait=left == 0, cancel_futures=left > 0)
        return left

    def _run(self, job: Callable[..., None], args: tuple) -> None:
        try:
            self._before_each_job()
            job(*args)
        except Exception:
            log.exception(
                "background job failed",
                extra={"fields": {"event": "job_failed", "job": getattr(job, "__name__", type(job).__name__)}},
            )
        finally:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

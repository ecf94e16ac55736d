import threading

from bot.background import BackgroundWork, pool_of_started_threads


def test_a_pools_threads_all_run_before_its_first_job_so_no_submit_starts_one():
    before = threading.active_count()
    pool = pool_of_started_threads(8, "test")
    assert threading.active_count() == before + 8
    gate = threading.Event()
    jobs = [pool.submit(gate.wait) for _ in range(8)]  # every thread busy at once
    assert threading.active_count() == before + 8
    gate.set()
    assert all(job.result(timeout=2) for job in jobs)
    pool.shutdown()


def test_background_work_starts_its_threads_when_it_is_made():
    before = threading.active_count()
    work = BackgroundWork("test", 4)
    assert threading.active_count() == before + 4
    assert work.drain(2) == 0

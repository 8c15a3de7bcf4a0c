"""Background jobs: started once per process, stopped at exit, per process or one round per interval fleet-wide."""
from __future__ import annotations

import os
import threading

import pytest

from aichat.jobs import Job, Jobs


def test_a_job_runs_until_stopped_and_not_at_all_with_interval_zero():
    calls = threading.Semaphore(0)
    off = Job("off", calls.release, 0)
    off.start()
    assert not off.running
    job = Job("on", calls.release, 0.05)
    job.start()
    assert job.running
    assert calls.acquire(timeout=30) and calls.acquire(timeout=30)  # it runs again and again
    job.stop()
    assert not job.running


def test_start_is_idempotent_in_a_process_and_stop_ends_every_job():
    """Starting again (every first use calls it) adds no second thread; stop ends them all."""
    jobs = Jobs()
    jobs.every("a", 60, lambda: None)
    jobs.every("b", 60, lambda: None)
    jobs.start()
    threads = {t.ident for t in threading.enumerate() if t.name.startswith("aichat-job-")}
    jobs.start()
    assert {t.ident for t in threading.enumerate() if t.name.startswith("aichat-job-")} == threads
    assert all(job.running for job in jobs)
    jobs.stop()
    assert not any(job.running for job in jobs)
    with pytest.raises(ValueError):
        jobs.every("a", 1, lambda: None)


def test_a_job_added_while_the_others_run_starts_at_once():
    """The configuration watcher may be added after the writer started the jobs."""
    jobs = Jobs()
    jobs.every("first", 60, lambda: None)
    jobs.start()
    ran = threading.Event()
    late = jobs.every("watcher", 0.02, ran.set)
    try:
        assert late.running and ran.wait(30)
    finally:
        jobs.stop()


def test_a_fleet_wide_round_runs_only_where_it_is_claimed_and_a_per_process_one_everywhere():
    """Two processes' jobs over one claim: the fleet-wide round runs once per gap, the per-process one in each."""
    claimed_at: list[float] = []

    def claim(min_gap: float) -> bool:
        if claimed_at:  # the round of this interval is taken
            return False
        claimed_at.append(min_gap)
        return True

    fleet_runs, local_runs = [], []
    processes = []
    for _ in range(2):
        jobs = Jobs()
        jobs.every("rollup", 10, lambda: fleet_runs.append(1), claim=claim)
        jobs.every("watcher", 1, lambda: local_runs.append(1))
        processes.append(jobs)
    assert [p["rollup"].run_once() for p in processes] == [True, False]
    assert [p["watcher"].run_once() for p in processes] == [True, True]
    assert len(fleet_runs) == 1 and len(local_runs) == 2
    assert claimed_at == [9.0], "the claim asks for most of an interval since the last round"
    assert processes[0]["rollup"].fleet_wide and not processes[0]["watcher"].fleet_wide


def test_a_failing_round_is_logged_and_the_next_one_runs(caplog):
    calls = threading.Semaphore(0)
    rounds = []

    def flaky():
        rounds.append(1)
        calls.release()
        if len(rounds) == 1:
            raise RuntimeError("the database is away")

    job = Job("flaky", flaky, 0.02)
    job.start()
    try:
        assert calls.acquire(timeout=30) and calls.acquire(timeout=30)
    finally:
        job.stop()
    assert "background job flaky failed" in caplog.text


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_after_fork_the_child_starts_its_own_threads():
    """gunicorn forks after import: a job running in the parent is not running in the child until started there."""
    ran = threading.Event()
    job = Job("forked", ran.set, 0.02)
    job.start()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it was running before and after start()
        try:
            before = job.running
            job.start()
            child_ran = threading.Event()
            job._run_round = child_ran.set
            after = job.running and child_ran.wait(10)
            os.write(write, f"{int(before)}{int(after)}".encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        answer = os.read(read, 2).decode()
    finally:
        os.close(read)
        os.waitpid(pid, 0)
        job.stop()
    assert answer == "01", "not running in the child until started there, then running"

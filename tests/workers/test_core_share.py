"""Pool processes split the machine's cores between them instead of each using all of them."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import threadpoolctl

from analysis._threads import fft_threads, set_threads
from workers import celery_app


@pytest.fixture
def restore_threads() -> Iterator[None]:
    fft = fft_threads()
    blas = {lib["internal_api"]: lib["num_threads"] for lib in threadpoolctl.threadpool_info()}
    yield
    set_threads(fft)
    threadpoolctl.threadpool_limits(limits=blas)


@pytest.mark.usefixtures("restore_threads")
def test_each_of_two_pool_processes_on_four_cores_gets_two_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    # given: a worker that forked two pool processes on a four-core machine
    monkeypatch.setattr(celery_app, "_pool_processes", 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    # when: a pool process starts
    celery_app._share_the_cores()
    # then: its FFTs and its BLAS use two threads each
    assert fft_threads() == 2
    assert {lib["num_threads"] for lib in threadpoolctl.threadpool_info()} <= {2}


@pytest.mark.usefixtures("restore_threads")
def test_more_pool_processes_than_cores_still_get_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    monkeypatch.setattr(celery_app, "_pool_processes", 8)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    # when
    celery_app._share_the_cores()
    # then
    assert fft_threads() == 1

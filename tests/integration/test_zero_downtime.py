"""Operations under keep-alive load lose no request (issue 12): every
request 20 clients send across HUP, TTOU, max_requests recycling, memory
recycling, a binary upgrade and TERM gets its own complete answer."""
import os
import signal
import time

from conftest import only_cunicorn, wait_until
from loadgen import Load

LOAD_SECONDS = 10.0


def test_hup_replaces_workers_without_losing_a_request(make_server):
    s = make_server("app_load:app", workers=2)
    load = Load(s)
    try:
        load.wait_served(200, 15)
        end = time.monotonic() + LOAD_SECONDS
        while time.monotonic() < end:
            old = set(s.worker_pids())
            s.send_signal(signal.SIGHUP)
            wait_until(lambda: len(set(s.worker_pids()) - old) == 2 and
                       len(s.worker_pids()) == 2, 15, what="a new generation of 2")
            load.wait_served(100, 15)
    finally:
        load.finish()
    load.assert_clean()


def test_hup_spreads_the_reconnecting_clients_over_the_new_workers(make_server):
    s = make_server("app_load:app", workers=2)
    load = Load(s)
    try:
        load.wait_served(200, 15)
        old = set(s.worker_pids())
        s.send_signal(signal.SIGHUP)
        wait_until(lambda: len(s.worker_pids()) == 2 and not old & set(s.worker_pids()), 15,
                   what="the old generation gone")
        new = set(s.worker_pids())
        before = load.snapshot()
        load.wait_served(1000, 20)
        after = load.pids_since(before)
    finally:
        load.finish()
    load.assert_clean()
    assert set(after) == new, after
    assert min(after.values()) >= 0.25 * sum(after.values()), after


def test_ttou_and_ttin_lose_no_request(make_server):
    s = make_server("app_load:app", workers=3)
    load = Load(s)
    try:
        load.wait_served(200, 15)
        end = time.monotonic() + LOAD_SECONDS
        while time.monotonic() < end:
            s.send_signal(signal.SIGTTOU)
            s.wait_workers(2, 15)
            load.wait_served(100, 15)
            s.send_signal(signal.SIGTTIN)
            s.wait_workers(3, 15)
            load.wait_served(100, 15)
    finally:
        load.finish()
    load.assert_clean()


def test_max_requests_recycling_loses_no_request(make_server):
    s = make_server("app_load:app", workers=2, args=["--max-requests", "50"])
    load = Load(s)
    try:
        end = time.monotonic() + LOAD_SECONDS
        while time.monotonic() < end:
            load.wait_served(200, 15)
    finally:
        load.finish()
    load.assert_clean()
    assert len(load.pids) >= load.ok // 60  # workers really were replaced

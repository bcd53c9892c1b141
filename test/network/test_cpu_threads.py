"""The detector's thread count follows the cores other processes leave free."""
import subprocess
import sys
import time

import pytest
import torch

from grasp_scorer_ros.network import cpu_threads
from grasp_scorer_ros.network.cpu_threads import OtherProcessesLoad, ThreadPolicy, threads_for, usable_cores


def test_a_core_counts_as_taken_when_others_use_more_than_a_quarter_of_it():
    assert threads_for(2, 0.0) == 2 and threads_for(2, 0.2) == 2
    assert threads_for(2, 0.3) == 1 and threads_for(2, 1.0) == 1 and threads_for(2, 1.9) == 1
    assert threads_for(8, 2.1) == 6 and threads_for(1, 0.0) == 1 and threads_for(4, 9.0) == 1


def test_a_fixed_count_is_kept_and_set_before_each_call():
    before = torch.get_num_threads()
    try:
        policy = ThreadPolicy(1)
        assert policy.before_inference() == 1 and torch.get_num_threads() == 1
        assert not policy.adaptive and "fixed" in policy.describe()
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError):
        ThreadPolicy(0)


@pytest.mark.skipif(usable_cores() < 2 or not OtherProcessesLoad().available,
                    reason="needs two cores and /proc/stat")
def test_auto_sees_another_busy_process_and_gives_its_core_back_when_it_ends():
    """Relative to whatever else the machine runs: a busy process started raises what auto sees of
    the others, its end lowers it, our own busy time never counts, and torch gets what is left."""
    before = torch.get_num_threads()
    policy = ThreadPolicy(None)

    def window(busy_here: bool = False) -> float:
        policy.before_inference()
        end = time.monotonic() + 0.8
        while time.monotonic() < end:
            if not busy_here:
                time.sleep(0.01)
        threads = policy.before_inference()
        assert threads == threads_for(policy.cores, policy.others_busy) == torch.get_num_threads()
        return policy.others_busy

    try:
        quiet = window()
        if quiet > 0.4:   # another job keeps the machine busy: it would fill the core a busy process frees
            pytest.skip(f"other processes already keep {quiet:.1f} core(s) busy here")
        assert window(busy_here=True) < quiet + 0.3     # this process busy: never counted as "others"
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(0.2)
            loaded = window()
        finally:
            busy.kill()
            busy.wait()
        after = window()
        assert loaded > quiet + 0.5 and loaded > after + 0.5, (quiet, loaded, after)
    finally:
        torch.set_num_threads(before)


def test_without_proc_stat_auto_keeps_torchs_default(monkeypatch):
    monkeypatch.setattr(cpu_threads, "PROC_STAT", "/nonexistent/stat")
    policy = ThreadPolicy(None)
    assert not policy.adaptive and policy.before_inference() == policy.cores
    assert "no /proc/stat" in policy.describe()

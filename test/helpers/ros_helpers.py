"""Small helpers for tests that run a real rclpy graph."""
import time


def spin_until(executor, condition, timeout=10.0, step=0.05):
    """Spin ``executor`` until ``condition()`` is true; return whether it became true in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        executor.spin_once(timeout_sec=step)
    return condition()

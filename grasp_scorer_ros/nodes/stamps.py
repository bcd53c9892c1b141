"""``builtin_interfaces/Time`` and integer nanoseconds, both ways: the one home of that arithmetic."""
from __future__ import annotations

from builtin_interfaces.msg import Time

NS_PER_S = 1_000_000_000


def stamp_to_ns(stamp) -> int:
    """A message stamp (``sec``, ``nanosec``) as integer nanoseconds."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def ns_to_stamp(nanoseconds: int) -> Time:
    return Time(sec=int(nanoseconds) // NS_PER_S, nanosec=int(nanoseconds) % NS_PER_S)


def is_unstamped(stamp) -> bool:
    return stamp.sec == 0 and stamp.nanosec == 0

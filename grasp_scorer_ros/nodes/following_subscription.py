"""A subscription whose reliability follows the publishers' (``image_reliability: auto``).

A camera's large frames arrive complete only on a reliable subscription (lost fragments are
resent), but a reliable subscription hears nothing from a best-effort publisher. So: reliable when
every publisher on the topic is reliable, best-effort as soon as one is best-effort, looked at
again every second. On a switch the new subscription comes first and the old one goes once the
new one hears every publisher, so that no frame falls between the two (a frame both deliver is
the caller's to recognise, by its stamp: :attr:`FollowingSubscription.switching`). What
image_pipeline's camera nodes do with their publishers' QoS.
"""
from __future__ import annotations

from typing import Callable

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

MODES = ("auto", "reliable", "best_effort")


def reliability_name(reliability) -> str:
    return "reliable" if reliability == ReliabilityPolicy.RELIABLE else "best-effort"


class FollowingSubscription:
    """One input of ``node``; call :meth:`check` periodically (the node's timer)."""

    def __init__(self, node: Node, name: str, message_type: type, topic: str, callback: Callable, depth: int,
                 mode: str):
        if mode not in MODES:
            raise ValueError(f"image_reliability must be one of {', '.join(MODES)}, got {mode!r}")
        self.node, self.name, self.message_type, self.topic = node, name, message_type, topic
        self.callback, self.depth, self.mode = callback, depth, mode
        self.subscription = None
        self.reliability = None
        self.retiring = None       # the previous subscription, until the new one is matched
        self._warned = False
        self.check()               # auto: the publishers may be known already
        if self.subscription is None:   # else best-effort until publishers show up
            self._subscribe(ReliabilityPolicy.RELIABLE if mode == "reliable" else ReliabilityPolicy.BEST_EFFORT, "")

    @property
    def switching(self) -> bool:
        """Two subscriptions deliver (a reliability switch in progress)."""
        return self.retiring is not None

    def describe(self) -> str:
        now = reliability_name(self.reliability)
        return f"image_reliability {self.mode}: {now} now" if self.mode == "auto" else \
            f"image_reliability {self.mode}"

    def check(self) -> None:
        """auto: follow the publishers' reliability; reliable: say once why nothing arrives."""
        try:
            publishers = self.node.get_publishers_info_by_topic(self.topic)
        except Exception:  # the graph is unavailable while the context shuts down
            return
        best_effort = sum(info.qos_profile.reliability != ReliabilityPolicy.RELIABLE for info in publishers)
        if self.retiring is not None and self.subscription is not None and \
                self.subscription.get_publisher_count() >= len(publishers):
            self.node.destroy_subscription(self.retiring)
            self.retiring = None
        if self.mode == "auto" and publishers:
            if best_effort:
                self._subscribe(ReliabilityPolicy.BEST_EFFORT,
                                f"auto: {best_effort} of {len(publishers)} publisher(s) best-effort")
            else:
                self._subscribe(ReliabilityPolicy.RELIABLE,
                                f"auto: all {len(publishers)} publisher(s) reliable: lost fragments are resent")
        elif self.mode == "reliable" and best_effort and not self._warned:
            self._warned = True
            self.node.get_logger().warning(
                f"{best_effort} publisher(s) on {self.topic} are best-effort: image_reliability "
                f"reliable receives nothing from them (use auto or best_effort)")

    def _subscribe(self, reliability: ReliabilityPolicy, reason: str) -> None:
        if self.subscription is not None and self.reliability == reliability:
            return
        if self.retiring is not None:
            self.node.destroy_subscription(self.retiring)
        self.retiring, self.reliability = self.subscription, reliability
        self.subscription = self.node.create_subscription(
            self.message_type, self.topic, self.callback, QoSProfile(depth=self.depth, reliability=reliability))
        if reason:
            self.node.get_logger().info(f"{self.name} subscription on {self.topic}: "
                                        f"{reliability_name(reliability)} ({reason})")

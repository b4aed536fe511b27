"""Another node's lifecycle, driven from a timer: brought to active or inactive one service call at a time.

The episode manager puts the policy node in and out of charge this way (``<node>/get_state``,
``<node>/change_state``), never blocking its own executor on an answer.
"""
from __future__ import annotations

from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.node import Node


class LifecyclePeer:
    def __init__(self, node: Node, target: str):
        self.change_state = node.create_client(ChangeState, f"{target}/change_state")
        self.get_state = node.create_client(GetState, f"{target}/get_state")
        self.state: int | None = None  # lifecycle primary state id, once known
        self._pending = None  # a call in flight

    @property
    def active(self) -> bool:
        return self.state == State.PRIMARY_STATE_ACTIVE

    def drive(self, active: bool) -> None:
        """One step towards active (configuring first if need be) or inactive; call it again on the next tick."""
        if self._pending is not None and not self._pending.done():
            return
        if self._pending is not None:
            self._pending = None
            self.state = None  # ask again what it is now
        if self.state is None:
            if self.get_state.service_is_ready():
                self._pending = self.get_state.call_async(GetState.Request())
                self._pending.add_done_callback(self._got_state)
            return
        if active and self.state == State.PRIMARY_STATE_UNCONFIGURED:
            transition = Transition.TRANSITION_CONFIGURE
        elif active and self.state == State.PRIMARY_STATE_INACTIVE:
            transition = Transition.TRANSITION_ACTIVATE
        elif not active and self.state == State.PRIMARY_STATE_ACTIVE:
            transition = Transition.TRANSITION_DEACTIVATE
        else:
            return
        self._change(transition)

    def deactivate_now(self) -> None:
        """Ask once, without waiting (on the way out)."""
        if self.active:
            self._change(Transition.TRANSITION_DEACTIVATE)

    def _change(self, transition: int) -> None:
        if self.change_state.service_is_ready():
            self._pending = self.change_state.call_async(ChangeState.Request(transition=Transition(id=transition)))

    def _got_state(self, future) -> None:
        result = future.result()
        if result is not None:
            self.state = result.current_state.id
            self._pending = None

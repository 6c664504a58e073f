"""Tor's fixed flow-control windows (relay.proto SENDME AND FLOW CONTROL), for either end."""
from collections import deque

CIRCUIT_WINDOW = 1000
CIRCUIT_INCREMENT = 100
STREAM_WINDOW = 500
STREAM_INCREMENT = 50


class FlowError(Exception):
    """The peer broke a window rule: the circuit is destroyed with reason PROTOCOL."""


class CircuitWindows:
    def __init__(self):
        self.package = CIRCUIT_WINDOW
        self.deliver = CIRCUIT_WINDOW
        self._sent = 0
        self._digests: deque[bytes] = deque()

    def data_sent(self, digest_after: bytes) -> None:
        """One DATA cell sent; `digest_after`: our running digest including it."""
        self.package -= 1
        self._sent += 1
        if self._sent % CIRCUIT_INCREMENT == 0:
            self._digests.append(digest_after)

    def data_received(self) -> bool:
        """One DATA cell received; True when a circuit SENDME is due now."""
        self.deliver -= 1
        if self.deliver < 0:
            raise FlowError("DATA beyond the circuit window")
        if self.deliver <= CIRCUIT_WINDOW - CIRCUIT_INCREMENT:
            self.deliver += CIRCUIT_INCREMENT
            return True
        return False

    def sendme_received(self, version: int, digest: bytes) -> None:
        if version != 1:
            raise FlowError(f"circuit SENDME version {version} (must be 1)")
        if not self._digests:
            raise FlowError("circuit SENDME above the initial window")
        if digest != self._digests.popleft():
            raise FlowError("circuit SENDME digest does not match the cell that triggered it")
        self.package += CIRCUIT_INCREMENT


class StreamWindows:
    def __init__(self):
        self.package = STREAM_WINDOW
        self.deliver = STREAM_WINDOW

    def data_received(self) -> None:
        self.deliver -= 1
        if self.deliver < 0:
            raise FlowError("DATA beyond the stream window")

    def sendme_due(self) -> bool:
        return self.deliver <= STREAM_WINDOW - STREAM_INCREMENT

    def sendme_sent(self) -> None:
        self.deliver += STREAM_INCREMENT

    def sendme_received(self) -> None:
        if self.package + STREAM_INCREMENT > STREAM_WINDOW:
            raise FlowError("stream SENDME above the initial window")
        self.package += STREAM_INCREMENT

"""systemd notifications (READY, STATUS, WATCHDOG, STOPPING) over $NOTIFY_SOCKET.

The protocol is one datagram per message to a unix socket; without NOTIFY_SOCKET every call is
a no-op, so the daemon runs the same under systemd, in a terminal and in tests.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    """Sends sd_notify messages; silent when not run by systemd."""

    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        self.address: str | None = None
        self.sock: socket.socket | None = None
        if address:
            # A leading "@" names a socket in the abstract namespace.
            self.address = "\0" + address[1:] if address.startswith("@") else address
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    @property
    def enabled(self) -> bool:
        return self.sock is not None

    def send(self, **fields: str | int) -> bool:
        """Send KEY=value lines (e.g. send(READY=1, STATUS="...")); False if it failed."""
        if self.sock is None or self.address is None:
            return False
        message = "\n".join(f"{k}={v}" for k, v in fields.items()).encode()
        try:
            self.sock.sendto(message, self.address)
        except OSError:
            return False
        return True

    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG pings (half of WATCHDOG_USEC), if systemd wants them."""
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        if not usec or (pid and pid != str(os.getpid())):
            return None
        try:
            return int(usec) / 2_000_000
        except ValueError:
            return None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

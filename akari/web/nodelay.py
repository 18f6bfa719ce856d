"""Send small answers at once: TCP_NODELAY on the app's listening sockets, which Streamlit binds without it."""

from __future__ import annotations

import os
import socket
from contextlib import suppress

# Streamlit 1.67 binds its listening socket itself (protocol 0), and asyncio sets TCP_NODELAY only on sockets made
# with IPPROTO_TCP: on a kept-alive connection every answer's last segment then waits for the client's delayed ACK
# (about 40 ms a request, API and page files alike). Linux copies the option from a listening socket to the
# connections it accepts, so setting it there once is enough.


def listening_tcp_sockets() -> list[int]:
    """File descriptors of this process's listening TCP sockets (none where /proc is missing)."""
    found = []
    with suppress(OSError):
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            with suppress(OSError):
                probe = socket.socket(fileno=os.dup(fd))
                with probe:
                    if probe.type == socket.SOCK_STREAM and probe.family in (socket.AF_INET, socket.AF_INET6) \
                            and probe.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                        found.append(fd)
    return found


def send_small_answers_at_once() -> int:
    """Set TCP_NODELAY on every listening TCP socket of this process; returns how many."""
    done = 0
    for fd in listening_tcp_sockets():
        with suppress(OSError), socket.socket(fileno=os.dup(fd)) as listener:
            listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            done += 1
    return done

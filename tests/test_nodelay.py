"""Small answers leave at once: the listening sockets get TCP_NODELAY, and the connections they accept inherit it."""

from __future__ import annotations

import socket

from akari.web.nodelay import send_small_answers_at_once


def test_a_listening_socket_and_what_it_accepts_send_without_delay() -> None:
    # Bound like Streamlit binds its own: protocol 0, which asyncio never marks TCP_NODELAY.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        assert send_small_answers_at_once() >= 1
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        with socket.create_connection(listener.getsockname()):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_sockets_that_do_not_listen_are_left_alone() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as idle:
        idle.bind(("127.0.0.1", 0))
        send_small_answers_at_once()
        assert idle.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0

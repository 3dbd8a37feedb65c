"""Free ports on the loopback interface."""

from __future__ import annotations

import socket

LOCALHOST = "127.0.0.1"


def free_port() -> int:
    """A port nobody listens on right now. Another process may take it before ours binds it:
    servers started on it retry on another port (managed.py) when it was taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port

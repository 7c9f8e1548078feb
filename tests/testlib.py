"""tests/testlib.py — what the Python test and bench scripts share."""
import base64
import socket

# Every user of tests/dovecot-lib.sh with its password (liam writes in tests/cluster.py).
USERS = [("alice", "alice-secret"), ("bob", 'b"o\\b p@ss'), ("carol", "pässwörd"),
         ("dave", "dave-secret"), ("erin", "erin-secret"), ("frank", "frank-secret"),
         ("grace", "grace-secret"), ("heidi", "heidi-secret"), ("kim", "kim-secret"),
         ("liam", "liam-secret")]


def free_port():
    """A TCP port on 127.0.0.1 that was free just now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def basic(user, password):
    """The Authorization header value for Basic credentials (UTF-8)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

"""How a relay closes a link after a protocol error (link.proto FRAMING: TLS close, then TCP
close). Connects with pyOpenSSL (Node cannot tell a close_notify from a bare TCP close), sends
an anonymous hello followed by bytes that do not decode as a Frame, and prints "close_notify"
or what happened instead.

    /usr/bin/python3 close_notify_probe.py HOST:PORT
"""
import socket
import sys

from OpenSSL import SSL

ANONYMOUS_HELLO = bytes.fromhex("0512030a0101")
UNDECODABLE = bytes([0x40, 0x32, 0x7F]) + bytes(62)


def probe(host: str, port: int) -> str:
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
    sock = socket.create_connection((host, port))
    conn = SSL.Connection(ctx, sock)
    conn.set_connect_state()
    conn.do_handshake()
    conn.sendall(ANONYMOUS_HELLO + UNDECODABLE)
    try:
        while conn.recv(65536):
            pass
    except SSL.ZeroReturnError:
        return "close_notify"
    except SSL.SysCallError as e:
        return f"TCP close without close_notify {e.args}"
    except (SSL.Error, OSError) as e:
        return f"error {e!r}"
    return "closed"


if __name__ == "__main__":
    host, _, port = sys.argv[1].rpartition(":")
    print(probe(host, int(port)))

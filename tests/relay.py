"""A TCP relay on 127.0.0.1 in front of a real service (PostgreSQL, Redis): point a client at
its port, then ``cut()`` it and ``start()`` it again to make the service vanish and come back
without touching the service itself (which other tests share)."""

from __future__ import annotations

import contextlib
import socket
import threading


class Relay:
    """A TCP relay to ``target`` that can be cut (every connection closed, new ones refused)
    and restored on the same port: a server that goes away and comes back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.port = target, 0
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.start()

    def start(self) -> None:
        """Listen (again) on the relay's port; the first call picks a free one."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        with self.lock:
            self.port, self.sockets = listener.getsockname()[1], [listener]
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Close the listener and every relayed connection, both sides, at once."""
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.sockets = []

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()  # the service itself is down: so is the relayed connection
                continue
            with self.lock:
                if listener not in self.sockets:  # cut while connecting: no survivors
                    client.close()
                    server.close()
                    return
                self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

"""A TCP relay from an address of this machine (the docker bridge of `make sam-local`) to a server
on loopback: SAM's containers reach moto and the ElevenLabs emulator through it, while both keep
listening on 127.0.0.1 only (tests/integration/test_sam_local_docker.py, `python -m local.sam_invoke
--bridge`)."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import threading


class Relay:
    def __init__(self, host: str, target_port: int, port: int = 0) -> None:
        self.host = host
        self.target_port = target_port
        self.port = port
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> str:
        """Its URL, on `host` and `port` (0: a free one)."""
        self._listener = socket.create_server((self.host, self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()
        return f"http://{self.host}:{self._listener.getsockname()[1]}"

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            for connection in self._open:
                connection.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed by stop()
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:  # the server is gone: the client sees its connection closed
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:  # the other side closed, or stop() did
        pass


def bridge_address() -> str:
    """This machine's address on the default docker bridge (docker0's): where a container reaches it."""
    name = subprocess.run(
        [
            "docker",
            "network",
            "inspect",
            "bridge",
            "--format",
            '{{index .Options "com.docker.network.bridge.name"}}',
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    shown = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "dev", name], capture_output=True, text=True, check=True
    )
    address = ipaddress.ip_interface(shown.stdout.split()[3]).ip
    if not address.is_private or address.is_loopback:
        raise RuntimeError(f"the docker bridge {name} has {address}, not a private address")
    return str(address)

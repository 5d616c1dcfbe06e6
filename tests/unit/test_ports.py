"""Ports for the servers the tests and benchmarks start (core/embedded_redis.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from testgen.core import embedded_redis
from testgen.core.embedded_redis import SERVER_PORTS, free_port


def ephemeral_ports() -> range:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return range(int(low), int(high) + 1)


def test_a_free_port_is_outside_the_range_outgoing_connections_take() -> None:
    """An outgoing connection cannot take the port between the check and the server's bind."""
    if not Path("/proc/sys/net/ipv4/ip_local_port_range").exists():
        pytest.skip("Linux only: reads the kernel's ephemeral port range")
    ports = {free_port() for _ in range(20)}
    assert len(ports) > 1
    for port in ports:
        assert port in SERVER_PORTS and port not in ephemeral_ports()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_taken_port_is_skipped_and_a_full_range_falls_back_to_any_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(embedded_redis, "SERVER_PORTS", range(port, port + 1))
        monkeypatch.setattr(embedded_redis, "PORT_TRIES", 1)
        other = free_port()
        assert other != port
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", other))

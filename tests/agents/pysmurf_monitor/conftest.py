import socket

import pytest


@pytest.fixture
def udp_sock():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        yield s

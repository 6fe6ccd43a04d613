"""The open-loop load generator against a real local HTTP server that answers one request at a time."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("loadgen", Path(__file__).parents[2] / "bench" / "loadgen.py")
assert spec is not None and spec.loader is not None
loadgen = importlib.util.module_from_spec(spec)
sys.modules["loadgen"] = loadgen  # dataclasses look their module up while the class is made
spec.loader.exec_module(loadgen)

SERVICE_S = 0.02  # the server's time per request: it can answer 50 per second


class SlowHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def do_GET(self) -> None:
        time.sleep(SERVICE_S)
        path = "historical" if "/2/" in self.path else "item_xp"
        body = json.dumps({"anchor_id": 1, "source": path, "recommendations": [{"source": "llm"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def slow_server():
    server = HTTPServer(("127.0.0.1", 0), SlowHandler)  # one thread: requests queue behind each other
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_open_loop_counts_the_wait_of_an_overloaded_server(slow_server: int) -> None:
    requests = [loadgen.http_request("GET", f"/v1/items/{i}/xp") for i in (1, 2)]
    # twice what the server can answer, over one connection: requests wait for it, more and more
    source = re.compile(rb'"source"\s*:\s*"([a-z_]+)"')
    result = loadgen.run_load(
        slow_server, requests, rate=100, seconds=1.0, connections=1, drain=5, label_pattern=source
    )
    assert result.errors == 0 and len(result.samples) == 100
    latency, service = result.percentiles(), result.percentiles(service=True)
    assert service["p99"] < 10 * 1000 * SERVICE_S  # each request alone was quick...
    assert latency["p99"] > 0.5 * 1000 * (100 * SERVICE_S - 1.0)  # ...but the last waited about a second
    assert latency["p99"] > 5 * service["p99"]
    assert result.labels() == {"item_xp": 50, "historical": 50}  # the top-level source, not a recommendation's
    assert result.percentiles("historical")["p50"] > 0


def test_paced_load_under_capacity_keeps_its_rate_and_closed_loop_runs_flat_out(slow_server: int) -> None:
    requests = [loadgen.http_request("GET", "/v1/items/1/xp")]
    paced = loadgen.run_load(slow_server, requests, rate=20, seconds=1.0, connections=2)
    assert len(paced.samples) == 20 and paced.errors == 0
    assert paced.percentiles()["p50"] < 10 * 1000 * SERVICE_S
    flat = loadgen.run_load(slow_server, requests, rate=0, seconds=0.5, connections=1)
    assert 0.5 * 0.5 / SERVICE_S < len(flat.samples) <= 0.6 / SERVICE_S + 1


def test_a_dead_port_is_an_error_per_request_not_a_crash() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = loadgen.run_load(port, [loadgen.http_request("GET", "/")], rate=20, seconds=0.25, connections=2)
    assert result.errors == len(result.samples) == 5 and result.labels() == {}
    with pytest.raises(ValueError):
        loadgen.run_load(port, [], rate=1, seconds=1)

"""An open-loop HTTP load generator: latency timed from each request's scheduled start.

A paced run schedules request i at `start + i / rate`, whatever happened to the requests before
it, and times it from that moment to its last response byte. A request that waits for a free
connection (because the server is slow) counts its wait, so a stalled server shows as a long
tail instead of as fewer, fast requests: no coordinated omission. The time from the actual send
(`service`) is kept beside it, which is what a closed-loop tool such as wrk reports.

Each response can get a label read from its body by a pattern (for `xp serve`: which candidate
path served a cart, which source answered an item lookup), so latencies are reported per path,
and a historical fallback is never counted as the item-XP path.

HTTP/1.1 keep-alive over asyncio streams; responses must carry Content-Length (the service's
JSON responses do). Stdlib only, one thread: run it beside the server and report its CPU.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

PERCENTILES = (50, 90, 99, 99.9)


@dataclass(frozen=True)
class Sample:
    scheduled: float  # loop time the request was due (its send time in a closed loop)
    sent: float
    done: float
    status: int  # 0: connection error or timeout
    label: str

    @property
    def latency(self) -> float:
        return self.done - self.scheduled

    @property
    def service(self) -> float:
        return self.done - self.sent


@dataclass
class LoadResult:
    samples: list[Sample]
    seconds: float  # from the first scheduled request to the last answer
    unsent: int  # scheduled but never sent before the drain deadline (counted as errors)
    client_cpu_s: float
    rate: float  # requests/s asked for (0: closed loop)
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return self.unsent + sum(s.status != 200 for s in self.samples)

    @property
    def achieved(self) -> float:
        ok = sum(s.status == 200 for s in self.samples)
        return ok / self.seconds if self.seconds > 0 else 0.0

    def percentiles(self, label: str | None = None, service: bool = False) -> dict[str, float]:
        """Milliseconds at each of `PERCENTILES` (and max) over the answered requests (of one label)."""
        chosen = [s for s in self.samples if s.status == 200 and (label is None or s.label == label)]
        if not chosen:
            return {f"p{p:g}": float("nan") for p in PERCENTILES} | {"max": float("nan")}
        ms = 1000 * np.array([s.service if service else s.latency for s in chosen])
        out = {f"p{p:g}": float(np.percentile(ms, p)) for p in PERCENTILES}
        return out | {"max": float(ms.max())}

    def labels(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.samples:
            if s.status == 200:
                out[s.label] = out.get(s.label, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def http_request(method: str, path: str, body: bytes | None = None, host: str = "127.0.0.1") -> bytes:
    """One HTTP/1.1 keep-alive request as bytes (built once, sent many times)."""
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + (body or b"")


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    status = int(status_line.split(b" ", 2)[1])
    length = None
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length is None:
        raise ConnectionError("response without Content-Length")
    return status, await reader.readexactly(length)


async def _connection(
    port: int,
    queue: asyncio.Queue[tuple[float, bytes] | None],
    samples: list[Sample],
    timeout: float,
    closed_until: float | None,
    requests: Sequence[bytes],
    label_pattern: re.Pattern[bytes] | None,
) -> None:
    """One keep-alive connection: takes due requests off the queue (open loop), or sends back to back until
    `closed_until` (closed loop); reconnects after an error."""
    loop = asyncio.get_running_loop()
    reader = writer = None
    i = 0
    while True:
        if closed_until is None:
            item = await queue.get()
            if item is None:
                break
            scheduled, payload = item
        else:
            if loop.time() >= closed_until:
                break
            scheduled, payload = loop.time(), requests[i % len(requests)]
            i += 1
        sent = loop.time()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(payload)
            status, body = await asyncio.wait_for(_read_response(reader), timeout)  # type: ignore[arg-type]
            match = label_pattern.search(body) if label_pattern is not None else None
            label = match.group(1).decode() if match else ""
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):  # OSError: refused, reset, timeout
            status, label = 0, "error"
            if writer is not None:
                writer.close()
            reader = writer = None
        samples.append(Sample(scheduled, sent, loop.time(), status, label))
    if writer is not None:
        writer.close()


async def _run(
    port: int,
    requests: Sequence[bytes],
    rate: float,
    seconds: float,
    connections: int,
    timeout: float,
    drain: float,
    label_pattern: re.Pattern[bytes] | None,
) -> LoadResult:
    loop = asyncio.get_running_loop()
    samples: list[Sample] = []
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    cpu0 = time.process_time()
    start = loop.time() + 0.05
    closed_until = None if rate > 0 else start + seconds
    workers = [
        asyncio.create_task(_connection(port, queue, samples, timeout, closed_until, requests, label_pattern))
        for _ in range(connections)
    ]
    unsent = 0
    if rate > 0:
        n = int(rate * seconds)
        for i in range(n):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait((due, requests[i % len(requests)]))
        deadline = loop.time() + drain
        while not queue.empty() and loop.time() < deadline:
            await asyncio.sleep(0.01)
        while not queue.empty():  # still waiting for a connection at the deadline: never sent
            queue.get_nowait()
            unsent += 1
        for _ in workers:
            queue.put_nowait(None)
    done, pending = await asyncio.wait(workers, timeout=timeout + drain)
    for task in pending:
        task.cancel()
    end = max((s.done for s in samples), default=start)
    return LoadResult(samples, end - start, unsent, time.process_time() - cpu0, rate)


def run_load(
    port: int,
    requests: Sequence[bytes],
    rate: float,
    seconds: float,
    connections: int = 64,
    timeout: float = 2.0,
    drain: float = 10.0,
    label_pattern: re.Pattern[bytes] | None = None,
) -> LoadResult:
    """Send `requests` (cycled) to 127.0.0.1:`port`: at `rate` per second for `seconds` (open loop, latency from
    each request's scheduled start), or as fast as `connections` allow when `rate` is 0 (closed loop). Each
    answer's label is the first group of `label_pattern`'s first match in its body."""
    if not requests:
        raise ValueError("no requests to send")
    if connections < 1 or seconds <= 0 or rate < 0:
        raise ValueError("connections must be at least 1, seconds positive and rate not negative")
    return asyncio.run(_run(port, requests, rate, seconds, connections, timeout, drain, label_pattern))

"""Server metrics in the Prometheus text format (version 0.0.4), thread safe (the batch worker observes too).

Series:
    embedkit_requests_total{endpoint, status}       counter
    embedkit_request_duration_seconds{endpoint}     histogram (request read to response written)
    embedkit_batch_size                             histogram (inputs per forward pass)
    embedkit_batch_tokens                           histogram (padded tokens per forward pass)
    embedkit_queue_depth                            gauge (inputs queued or running)
    embedkit_inputs_total                           counter (inputs embedded, scored or reranked)
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Callable

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
BATCH_TOKEN_BUCKETS = (16, 64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536)


class Histogram:
    """Cumulative-bucket histogram, one series per label value.

    Example:
        >>> h = Histogram("demo_seconds", "demo", (0.1, 1.0))
        >>> h.observe(0.5)
        >>> print(h.render())  # doctest: +NORMALIZE_WHITESPACE
        # HELP demo_seconds demo
        # TYPE demo_seconds histogram
        demo_seconds_bucket{le="0.1"} 0
        demo_seconds_bucket{le="1.0"} 1
        demo_seconds_bucket{le="+Inf"} 1
        demo_seconds_sum 0.5
        demo_seconds_count 1
    """

    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...], label: str | None = None) -> None:
        self.name, self.help_text, self.buckets, self.label = name, help_text, buckets, label
        self._lock = threading.Lock()
        self._counts: dict[str, list[int]] = {}
        self._sums: dict[str, float] = defaultdict(float)

    def observe(self, value: float, label_value: str = "") -> None:
        with self._lock:
            counts = self._counts.setdefault(label_value, [0] * (len(self.buckets) + 1))
            counts[bisect.bisect_left(self.buckets, value)] += 1
            self._sums[label_value] += value

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.help_text}", f"# TYPE {self.name} histogram"]
        with self._lock:
            for label_value, counts in sorted(self._counts.items()):
                prefix = f'{self.label}="{label_value}",' if self.label else ""
                total = 0
                for bound, count in zip([*map(str, self.buckets), "+Inf"], counts):
                    total += count
                    lines.append(f'{self.name}_bucket{{{prefix}le="{bound}"}} {total}')
                labels = f'{{{prefix.rstrip(",")}}}' if prefix else ""
                lines.append(f"{self.name}_sum{labels} {self._sums[label_value]:.6g}")
                lines.append(f"{self.name}_count{labels} {total}")
        return "\n".join(lines)


class ServerMetrics:
    """Every series the server exports; :meth:`render` gives the ``/metrics`` body.

    Example:
        >>> metrics = ServerMetrics()
        >>> metrics.count_request("/embed", 200, 0.004)
        >>> 'embedkit_requests_total{endpoint="/embed",status="200"} 1' in metrics.render()
        True
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.inputs_total = 0
        self.queue_depth: Callable[[], int] = lambda: 0  # the server points it at its batcher
        self.latency = Histogram("embedkit_request_duration_seconds", "Request latency in seconds.", LATENCY_BUCKETS,
                                 label="endpoint")
        self.batch_size = Histogram("embedkit_batch_size", "Inputs per forward pass.", BATCH_SIZE_BUCKETS)
        self.batch_tokens = Histogram("embedkit_batch_tokens", "Padded tokens per forward pass.", BATCH_TOKEN_BUCKETS)

    def count_request(self, endpoint: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(endpoint, status)] += 1
        self.latency.observe(seconds, endpoint)

    def count_batch(self, size: int, padded_tokens: int) -> None:
        with self._lock:
            self.inputs_total += size
        self.batch_size.observe(size)
        self.batch_tokens.observe(padded_tokens)

    def render(self) -> str:
        lines = ["# HELP embedkit_requests_total Requests answered, by endpoint and status.",
                 "# TYPE embedkit_requests_total counter"]
        with self._lock:
            for (endpoint, status), count in sorted(self.requests.items()):
                lines.append(f'embedkit_requests_total{{endpoint="{endpoint}",status="{status}"}} {count}')
            inputs_total = self.inputs_total
        lines += ["# HELP embedkit_inputs_total Inputs run through a model.", "# TYPE embedkit_inputs_total counter",
                  f"embedkit_inputs_total {inputs_total}",
                  "# HELP embedkit_queue_depth Inputs queued or running.", "# TYPE embedkit_queue_depth gauge",
                  f"embedkit_queue_depth {self.queue_depth()}"]
        lines += [self.latency.render(), self.batch_size.render(), self.batch_tokens.render()]
        return "\n".join(lines) + "\n"

"""The dashboard's main panels as a PNG, from the EMF lines the functions printed on the local stack.

    python -m local.dashboard --out warmline-dashboard.png [--logs .warmline/logs]

On AWS, CloudWatch turns these lines into metrics; locally the stack writes each function's stdout
to .warmline/logs/<FunctionLogicalId>.log, and this reads them back.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NO_DATA_MESSAGE = "no EMF metric lines in {logs}: run `make demo` first (it plays calls on the local stack)"


@dataclass(frozen=True)
class MetricPoint:
    namespace: str
    name: str
    unit: str
    dimensions: dict[str, str]
    value: float
    timestamp_ms: int

    @property
    def identity(self) -> tuple[str, str, frozenset[tuple[str, str]]]:
        return self.namespace, self.name, frozenset(self.dimensions.items())


def parse_emf_lines(lines: Iterable[str]) -> list[MetricPoint]:
    """Every metric value in the EMF documents among the lines; other lines are skipped."""
    points = []
    for line in lines:
        line = line.strip()
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        try:
            document = json.loads(line)
        except ValueError:
            continue
        points.extend(_points_of(document))
    return points


def _points_of(document: dict[str, Any]) -> list[MetricPoint]:
    metadata = document.get("_aws")
    if not isinstance(metadata, dict):
        return []
    timestamp = int(metadata.get("Timestamp", 0))
    points = []
    for directive in metadata.get("CloudWatchMetrics", []):
        for dimension_set in directive.get("Dimensions", [[]]):
            dimensions = {name: str(document[name]) for name in dimension_set}
            for metric in directive.get("Metrics", []):
                values = document.get(metric["Name"])
                for value in values if isinstance(values, list) else [values]:
                    points.append(
                        MetricPoint(
                            directive["Namespace"],
                            metric["Name"],
                            metric.get("Unit", "None"),
                            dimensions,
                            float(value),
                            timestamp,
                        )
                    )
    return points


def read_logs(logs_dir: Path) -> list[MetricPoint]:
    points = []
    for path in sorted(logs_dir.glob("*.log")):
        with open(path, errors="replace") as handle:
            points.extend(parse_emf_lines(handle))
    return points


def render(points: list[MetricPoint], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, float] = defaultdict(float)
    for point in points:
        extra = [value for name, value in sorted(point.dimensions.items()) if name != "service"]
        label = point.name + (f" ({', '.join(extra)})" if extra else "")
        values[label].append(point.value)
        if point.unit == "Count":
            counts[label] += point.value

    figure, axes = plt.subplots(2, 2, figsize=(14, 9))
    figure.suptitle(f"warmline on the local stack - {len(points)} metric values")
    _distribution(axes[0][0], "Clone time (ms)", {"CloneDuration": values.get("CloneDuration", [])})
    _distribution(
        axes[0][1], "IVR wait after pressing 1 (ms)", {"IvrWaitTime": values.get("IvrWaitTime", [])}
    )
    _counts(axes[1][0], "Outcomes and counts", counts)
    latency = {label: series for label, series in values.items() if label.startswith("Webhook")}
    _distribution(axes[1][1], "Webhook time inside the function (ms)", latency)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png", dpi=100)
    plt.close(figure)
    return out


def _percentile(sorted_values: list[float], percentile: float) -> float:
    rank = max(1, -(-len(sorted_values) * percentile // 100))
    return sorted_values[int(rank) - 1]


def _distribution(axis: Any, title: str, series: dict[str, list[float]]) -> None:
    axis.set_title(title)
    series = {label: sorted(found) for label, found in series.items() if found}
    if not series:
        axis.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=axis.transAxes)
        return
    labels = [
        f"{label}\nn={len(found)} p50={_percentile(found, 50):.0f} p95={_percentile(found, 95):.0f}"
        for label, found in series.items()
    ]
    axis.boxplot(list(series.values()), orientation="horizontal", tick_labels=labels, showmeans=True)
    axis.tick_params(axis="y", labelsize=8)


def _counts(axis: Any, title: str, counts: dict[str, float]) -> None:
    axis.set_title(title)
    if not counts:
        axis.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=axis.transAxes)
        return
    labels = sorted(counts)
    axis.barh(labels, [counts[label] for label in labels])
    axis.tick_params(axis="y", labelsize=8)
    for index, label in enumerate(labels):
        axis.text(counts[label], index, f" {counts[label]:g}", va="center", fontsize=8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.dashboard", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("warmline-dashboard.png"), help="PNG to write")
    parser.add_argument("--logs", type=Path, default=Path(".warmline/logs"), help="the local stack's logs")
    args = parser.parse_args(argv)
    points = read_logs(args.logs) if args.logs.is_dir() else []
    if not points:
        print(NO_DATA_MESSAGE.format(logs=args.logs), file=sys.stderr)
        return 1
    print(render(points, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The CloudWatch dashboard of template.yaml drawn as a PNG, from the EMF lines the functions printed on
the local stack (`python -m local.dashboard --out .warmline/dashboard.png [--logs .warmline/logs]`).

Every metric widget is a panel at its place in the grid, each of its rows a series over time (counts
summed per period, zero where nothing happened; other statistics where there was data). Rows of AWS
metrics and metric-math expressions have no local data and say so. A horizontal line marks a target:
the widget's own `annotations`, and the template parameter that bounds the metric.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.template import read_yaml
from warmline.cloning_report import nearest_rank

NO_DATA_MESSAGE = "no EMF metric lines in {logs}: run `make demo` first (it plays calls on the local stack)"
TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
MAX_PERIODS = 30  # the run is cut into at most this many periods (at least a second each)
SECONDS_AXIS_UP_TO = 120  # a run up to this long is drawn in seconds, a longer one in minutes
# metric name -> (label, the template parameter in seconds that bounds it); drawn in ms
TARGETS = {
    "CloneDuration": ("greeting timeout", "GreetingTimeoutSeconds"),
    "IvrWaitTime": ("longest IVR wait", "IvrMaxWaitSeconds"),
    "HandoffTransferTime": ("handoff window", "HandoffWindowSeconds"),
}


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
        if line.startswith("{") and '"_aws"' in line:
            try:
                points.extend(_points_of(json.loads(line)))
            except ValueError:
                continue
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
                    unit = metric.get("Unit", "None")
                    identity = (directive["Namespace"], metric["Name"], unit, dimensions)
                    points.append(MetricPoint(*identity, float(value), timestamp))
    return points


def read_logs(logs_dir: Path) -> list[MetricPoint]:
    points = []
    for path in sorted(logs_dir.glob("*.log")):
        with open(path, errors="replace") as handle:
            points.extend(parse_emf_lines(handle))
    return points


def dashboard_widgets(template_path: Path = TEMPLATE) -> list[dict[str, Any]]:
    """The metric widgets of the template's dashboard (its ${...} names left as they are written)."""
    resources = read_yaml(template_path)["Resources"].values()
    body = next(r for r in resources if r["Type"] == "AWS::CloudWatch::Dashboard")["Properties"]
    document = json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", body["DashboardBody"]["Fn::Sub"]))
    return [widget for widget in document["widgets"] if widget["type"] == "metric"]


def statistic(stat: str, values: list[float]) -> float:
    """One CloudWatch statistic of one period's values; a Sum of nothing is 0, any other is no data."""
    if stat == "Sum" or stat == "SampleCount":
        return sum(values) if stat == "Sum" else len(values)
    if not values:
        return math.nan
    if stat.startswith("p"):
        return float(nearest_rank(sorted(values), float(stat[1:])))
    return {"Average": sum(values) / len(values), "Maximum": max(values), "Minimum": min(values)}[stat]


class _Picture:
    def __init__(self, points: list[MetricPoint], parameters: dict[str, Any]):
        self.points = points
        self.parameters = parameters
        times = [point.timestamp_ms / 1000 for point in points] or [0.0]
        self.start = min(times)
        self.period = max(1.0, math.ceil((max(times) - self.start + 1) / MAX_PERIODS))
        self.periods = int((max(times) - self.start) // self.period) + 1

    def series(self, row: list[Any], widget_stat: str) -> tuple[str, list[float]] | None:
        options = row[-1] if isinstance(row[-1], dict) else {}
        names = [part for part in row if isinstance(part, str)]
        namespace, name, pairs = names[0], names[1], dict(zip(names[2::2], names[3::2], strict=True))
        if namespace.startswith("AWS/"):
            return None
        by_period: list[list[float]] = [[] for _ in range(self.periods)]
        for point in self.points:
            if (point.namespace, point.name, point.dimensions) == (namespace, name, pairs):
                by_period[int((point.timestamp_ms / 1000 - self.start) // self.period)].append(point.value)
        stat = options.get("stat", widget_stat)
        return options.get("label", f"{name} {stat}"), [statistic(stat, values) for values in by_period]

    def x_axis(self) -> tuple[str, list[float], tuple[float, float]]:
        """The label, each period's place and the limits: from the first metric to the last, no more."""
        in_seconds = (self.periods - 1) * self.period <= SECONDS_AXIS_UP_TO
        scale, unit = (1, "seconds") if in_seconds else (60, "minutes")
        places = [i * self.period / scale for i in range(self.periods)]
        label = f"{unit} since the first metric ({self.period:g} s periods)"
        return label, places, (0, max(places[-1], self.period / scale))

    def targets(self, widget: dict[str, Any]) -> list[tuple[str, float]]:
        properties = widget["properties"]
        lines = [
            (a.get("label", ""), float(a["value"]))
            for a in properties.get("annotations", {}).get("horizontal", [])
        ]
        names = {row[1] for row in properties["metrics"] if isinstance(row[0], str)}
        for name in sorted(names & set(TARGETS)):
            label, parameter = TARGETS[name]
            seconds = float(self.parameters[parameter])
            lines.append((f"{label} ({seconds:g} s)", seconds * 1000))
        return lines

    def draw(self, axis: Any, widget: dict[str, Any]) -> None:
        properties = widget["properties"]
        axis.set_title(properties["title"], fontsize=9)
        x_label, places, limits = self.x_axis()
        not_local = []
        for row in properties["metrics"]:
            found = None if isinstance(row[0], dict) else self.series(row, properties.get("stat", "Average"))
            if found is None:
                not_local.append((row[0].get("label") if isinstance(row[0], dict) else None) or row[1])
                continue
            name, values = found
            axis.plot(places, values, marker="o", markersize=3, label=name)
        for label, value in self.targets(widget):
            axis.axhline(value, color="red", linestyle="--", linewidth=1, label=f"target: {label}")
        if not_local:
            note = "not on the local stack: " + ", ".join(dict.fromkeys(not_local))
            axis.text(
                0.01, 0.98, note, transform=axis.transAxes, fontsize=7, va="top", color="grey", wrap=True
            )
        axis.set_xlabel(x_label, fontsize=7)
        axis.set_ylim(bottom=0)
        axis.set_xlim(*limits)
        axis.tick_params(labelsize=7)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=6, loc="upper right")


def render(
    points: list[MetricPoint],
    out: Path,
    parameters: dict[str, Any] | None = None,
    template_path: Path = TEMPLATE,
) -> list[str]:
    """Draw the dashboard into `out`; the titles of the panels drawn, in the template's order.
    `parameters` are the stack's template parameters (the template's defaults where not given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    declared = read_yaml(template_path).get("Parameters", {})
    values = {name: spec.get("Default") for name, spec in declared.items()} | (parameters or {})
    widgets = dashboard_widgets(template_path)
    rows = max(widget["y"] + widget["height"] for widget in widgets)
    figure = plt.figure(figsize=(24, rows * 0.55))
    grid = figure.add_gridspec(rows, 24, hspace=2.5, wspace=3, top=0.96, bottom=0.03, left=0.04, right=0.98)
    figure.suptitle(f"warmline on the local stack - {len(points)} metric values")
    picture = _Picture(points, values)
    for widget in widgets:
        x, y, width, height = widget["x"], widget["y"], widget["width"], widget["height"]
        picture.draw(figure.add_subplot(grid[y : y + height - 1, x : x + width]), widget)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png", dpi=100)
    plt.close(figure)
    return [widget["properties"]["title"] for widget in widgets]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.dashboard", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("warmline-dashboard.png"), help="PNG to write")
    parser.add_argument("--logs", type=Path, default=Path(".warmline/logs"), help="the local stack's logs")
    parser.add_argument(
        "--template", type=Path, default=TEMPLATE, help="the template whose dashboard to draw"
    )
    args = parser.parse_args(argv)
    points = read_logs(args.logs) if args.logs.is_dir() else []
    if not points:
        print(NO_DATA_MESSAGE.format(logs=args.logs), file=sys.stderr)
        return 1
    render(points, args.out, template_path=args.template)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

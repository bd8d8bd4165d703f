"""One call's timeline as a PNG: a lane per step, in the order a call goes through them, seconds
since the incoming webhook along the bottom. Spans (the voices/add request, each check_clone wait)
are bars; the rest are points with their detail beside them. Imported only for `--png`: it loads
matplotlib."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from warmline_cli.call_timeline import STEPS, CallTimeline, Step, iso

SPAN_COLOUR = "#4c72b0"
POINT_COLOUR = "#dd8452"
TROUBLE = {"clone failed", "handoff lost", "IVR timeout", "caller ID not passed"}


def draw(call: CallTimeline, path: Path) -> Path:
    lanes = _lanes(call)
    figure, axes = plt.subplots(figsize=(11, 1.2 + 0.42 * len(lanes)), dpi=100)
    start = call.started_at_ms
    for step in call.steps:
        _draw_step(axes, step, lanes.index(step.name), start)
    end_s = max((call.ended_at_ms - start) / 1000, 0.5)
    axes.set_xlim(-0.03 * end_s, end_s * 1.25)  # room for the last point's detail
    axes.set_yticks(range(len(lanes)), lanes)
    axes.set_ylim(len(lanes) - 0.5, -0.5)
    axes.set_xlabel("seconds since the incoming webhook")
    axes.grid(axis="x", alpha=0.3)
    who = call.caller or call.caller_key
    axes.set_title(f"call {call.call_id}, caller {who}, {iso(start)}\n{call.outcome}", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def _lanes(call: CallTimeline) -> list[str]:
    """The steps a call goes through, then any other step it had (a failure, a PIN check)."""
    seen = [step.name for step in call.steps]
    extra = [name for name in dict.fromkeys(seen) if name not in STEPS]
    return [*STEPS, *extra]


def _draw_step(axes: plt.Axes, step: Step, lane: int, start_ms: int) -> None:
    at = (step.at_ms - start_ms) / 1000
    colour = "#c44e52" if step.name in TROUBLE else POINT_COLOUR
    if step.end_ms is not None:
        width = max((step.end_ms - step.at_ms) / 1000, 0.01)
        axes.barh(lane, width, left=at, height=0.5, color=SPAN_COLOUR)
        label = f"{step.detail} ({width:.2f} s)"
        axes.annotate(
            label, (at + width, lane), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8
        )
        return
    axes.plot([at], [lane], marker="o", color=colour, markersize=7)
    label = f"{at:.2f} s  {step.detail}".rstrip()
    axes.annotate(label, (at, lane), xytext=(6, 0), textcoords="offset points", va="center", fontsize=8)

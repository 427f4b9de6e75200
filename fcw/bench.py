"""Per-stage latency, throughput and memory of the pipeline on one source.

Wall-clock time is what a benchmark measures; it never feeds back into a frame's processing.
"""
from __future__ import annotations

import os
import platform
import resource
import shutil
import time
from typing import Any

import numpy as np

from fcw.sinks.annotate import annotate
from fcw.sinks.base import RunSummary, Sink
from fcw.types import FrameResult

# Stages in the order a frame meets them: "read" decodes the video, "preprocess" resizes and
# normalises for the model, "inference" is the model run alone, "postprocess" decodes its output
# and merges the boxes ("detect" is those three), "draw" the annotation an overlay or recorder pays.
STAGES = ("read", "preprocess", "inference", "postprocess", "detect", "lights", "track",
          "geometry", "risk", "draw")


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "gpu": "present (nvidia-smi found)" if shutil.which("nvidia-smi") else "none found"}


class BenchSink(Sink):
    """Collects every frame's stage times, draws it as an overlay would, and sums it up."""

    def __init__(self, class_names: tuple[str, ...], warmup: int = 3) -> None:
        self.class_names = class_names
        self.warmup = warmup
        self.ms: dict[str, list[float]] = {s: [] for s in STAGES}
        self.frame_ms: list[float] = []
        self._seen = 0
        self._t_last: float | None = None
        # Process CPU time (all threads) over the measured frames: unlike wall time, it hardly
        # moves with the machine's other load or the number of threads the work is spread on.
        self._cpu_first: float | None = None
        self._cpu_last = 0.0
        self.summary: RunSummary | None = None
        self.event_ms: list[float] = []

    def write(self, result: FrameResult) -> None:
        # Last among the sinks: the events file has written this frame's events by now.
        if result.events and result.read_done:
            self.event_ms.append((time.perf_counter() - result.read_done) * 1e3)
        t0 = time.perf_counter()
        annotate(result, self.class_names)
        draw_ms = (time.perf_counter() - t0) * 1e3
        self._seen += 1
        now = time.perf_counter()
        if self._seen > self.warmup:  # first frames pay for lazy initialisation
            for stage in STAGES:
                value = draw_ms if stage == "draw" else result.stage_ms.get(stage)
                if value is not None:
                    self.ms[stage].append(value)
            if self._t_last is not None:
                self.frame_ms.append((now - self._t_last) * 1e3)
                self._cpu_last = time.process_time()
        self._t_last = now
        # CPU time from the same frame as the first measured frame interval starts.
        if self._seen == max(self.warmup, 1):
            self._cpu_first = time.process_time()

    def finish(self, summary: RunSummary) -> None:
        self.summary = summary

    def report(self) -> dict[str, Any]:
        stages = {s: {"median_ms": round(float(np.median(v)), 3),
                      "p99_ms": round(float(np.percentile(v, 99)), 3)}
                  for s, v in self.ms.items() if v}
        frame = np.asarray(self.frame_ms) if self.frame_ms else np.asarray([np.nan])
        # The share of the wall time in which the model is not running. Per frame medians do
        # not subtract when the model runs on a thread of its own, beside the rest; totals do.
        inference = self.ms["inference"]
        share = (max(0.0, 1.0 - sum(inference[1:]) / sum(self.frame_ms))
                 if inference and self.frame_ms else None)
        return {
            "frames_measured": len(self.frame_ms),
            "fps": round(1e3 / float(np.median(frame)), 2),
            "frame_ms": {"median_ms": round(float(np.median(frame)), 3),
                         "p99_ms": round(float(np.percentile(frame, 99)), 3)},
            "stages": stages,
            "non_inference_share": round(share, 3) if share is not None else None,
            # CPU time per frame and the cores it kept busy on average.
            "cpu_ms_per_frame": (round((self._cpu_last - self._cpu_first) * 1e3
                                       / len(self.frame_ms), 3)
                                 if self.frame_ms and self._cpu_first is not None else None),
            "cores_busy": (round((self._cpu_last - self._cpu_first) * 1e3 / sum(self.frame_ms), 2)
                           if self.frame_ms and self._cpu_first is not None else None),
            # Every frame that raised an event, warm-up included: events are rare.
            "capture_to_event_ms": ({"events": len(self.event_ms),
                                     "median_ms": round(float(np.median(self.event_ms)), 3),
                                     "max_ms": round(float(np.max(self.event_ms)), 3)}
                                    if self.event_ms else {"events": 0}),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }


def format_comparison(reports: list[dict[str, Any]]) -> str:
    """One line per model of ``fcw bench --models``: the cost of each on the same source."""
    lines = [(f"{'model':<12}{'input':>9}{'fps':>7}{'frame ms':>10}{'model ms':>10}"
              f"{'model share':>13}{'CPU ms/frame':>14}")]
    for r in reports:
        share = r["non_inference_share"]
        cpu = r.get("cpu_ms_per_frame")
        lines.append(f"{r['model']:<12}{'x'.join(map(str, r.get('model_input_size', ()))):>9}"
                     f"{r['fps']:>7.1f}{r['frame_ms']['median_ms']:>10.1f}"
                     f"{r['stages'].get('inference', {}).get('median_ms', float('nan')):>10.1f}"
                     f"{(f'{1 - share:.0%}' if share is not None else '-'):>13}"
                     f"{(f'{cpu:.1f}' if cpu is not None else '-'):>14}")
    lines.append("(model ms: median model run per frame, far crop included; model share: the part "
                 "of the wall time in which the model runs; wall figures move with the machine's "
                 "other load, CPU time per frame much less)")
    return "\n".join(lines)


def format_report(report: dict[str, Any]) -> str:
    m = report["machine"]
    lights = report.get("lights") or {}
    models = ", ".join([report["model"], *(v for k, v in lights.items()
                                           if k.endswith("model") and v)])
    lines = [f"fcw bench: {report['source']} ({report['backend']}, models {models})",
             f"machine: {m['cpu']}, {m['cores']} cores, GPU {m['gpu']}",
             f"{'stage':<10}{'median ms':>12}{'p99 ms':>10}"]
    for stage, v in report["stages"].items():
        lines.append(f"{stage:<10}{v['median_ms']:>12.2f}{v['p99_ms']:>10.2f}")
    f = report["frame_ms"]
    lines.append(f"{'frame':<10}{f['median_ms']:>12.2f}{f['p99_ms']:>10.2f}")
    lines.append("(read = video decoding; detect = preprocess + inference + postprocess; "
                 "frame = wall time per frame)")
    share = report["non_inference_share"]
    lines.append(f"{report['fps']:.1f} fps over {report['frames_measured']} frames; "
                 + (f"model {1 - share:.0%}, non-inference {share:.0%} of the frame time; "
                    if share is not None else "")
                 + f"peak RSS {report['peak_rss_mb']} MB")
    if report.get("cpu_ms_per_frame") is not None:
        lines.append(f"CPU time {report['cpu_ms_per_frame']:.1f} ms per frame, all threads "
                     f"({report['cores_busy']:.2f} cores busy on average)")
    ev = report["capture_to_event_ms"]
    lines.append("capture to event written: " + (
        f"median {ev['median_ms']:.1f} ms, max {ev['max_ms']:.1f} ms over {ev['events']} events"
        if ev["events"] else "no event in this run"))
    return "\n".join(lines)

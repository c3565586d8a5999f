"""Parity of an exported ONNX network (run by ONNX Runtime) with PyTorch running the same
architecture and weights in inference mode.

Usage: onnx_torch_parity.py ARCH.json MODEL.onnx SEED
  ARCH.json   `entangle model summary NAME --json`: the layer list
  MODEL.onnx  `entangle model export NAME`: the graph and its weights (initializers)

PyTorch is the independent reference: the network is interpreted here from the layer list
with torch.nn.functional (conv2d, batch_norm, max_pool2d, linear, interpolate, cat), and the
weights are taken from the ONNX initializers by their torch-style names. Checks the model with
onnx.checker first, then prints the maximum absolute difference of the outputs.
"""

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from onnx import numpy_helper

BATCH_NORM_EPSILON = 1e-5


def activation(x, name):
    return {"identity": lambda t: t, "relu": F.relu, "elu": F.elu, "sigmoid": torch.sigmoid}[name](x)


def forward(arch, weights, x):
    taps = {}
    for i, layer in enumerate(arch["layers"]):
        w = lambda suffix: weights[f"{i}.{suffix}"]  # noqa: E731
        if layer == "batch_norm":
            x = F.batch_norm(x, w("running_mean"), w("running_var"), w("weight"), w("bias"),
                             training=False, eps=BATCH_NORM_EPSILON)
            continue
        (kind, spec), = layer.items()
        if kind == "conv":
            kh, kw = spec["kernel"]
            padding = spec["padding"]
            pad = {"same": (kh // 2, kw // 2), "valid": (0, 0)}.get(padding) if isinstance(padding, str) \
                else tuple(padding["explicit"])
            bias = w("bias") if spec["bias"] else None
            x = F.conv2d(x, w("weight"), bias, stride=tuple(spec["stride"]), padding=pad)
            x = activation(x, spec["activation"])
        elif kind == "activation":
            x = activation(x, spec)
        elif kind == "max_pool":
            x = F.max_pool2d(x, tuple(spec["kernel"]), stride=tuple(spec["kernel"]))
        elif kind == "dropout":
            pass
        elif kind == "dense":
            x = F.linear(x.flatten(1), w("weight"), w("bias") if spec["bias"] else None)
            x = activation(x, spec["activation"])
        elif kind == "upscale":
            x = F.interpolate(x, scale_factor=tuple(float(f) for f in spec["factor"]), mode="nearest")
        elif kind == "tap":
            taps[spec] = x
        elif kind == "concat":
            x = torch.cat([x, taps[spec]], dim=1)
        else:
            raise ValueError(f"unknown layer {layer}")
    return x


def main(arch_path, onnx_path, seed):
    arch = json.load(open(arch_path))
    model = onnx.load(onnx_path)
    onnx.checker.check_model(model, full_check=True)  # valid graph, consistent shapes
    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in model.graph.initializer}
    shape = [3] + arch["input"]["map"]
    x = np.random.default_rng(int(seed)).standard_normal(shape).astype(np.float32)
    torch.set_num_threads(1)
    with torch.no_grad():
        reference = forward(arch, weights, torch.from_numpy(x)).numpy()
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    ours = session.run(["probabilities"], {"spectrogram": x})[0]
    assert ours.shape == reference.shape, (ours.shape, reference.shape)
    print(json.dumps(dict(shape=list(ours.shape), max_abs_diff=float(np.abs(ours - reference).max()),
                          mean_output=float(ours.mean()))))


if __name__ == "__main__":
    main(*sys.argv[1:4])

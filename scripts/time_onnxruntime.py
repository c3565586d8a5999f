"""Times Python's onnxruntime on the models benches/inference.rs wrote (target/bench-models/),
with the bench's settings: 2 intra-op threads, batches of 256 frames, the same input values.
Prints frames/s per model, to set next to the criterion figures (`make bench`)."""

import sys
import time

import numpy as np
import onnxruntime as ort

BATCH = 256


def main(model_dir):
    x = ((np.arange(BATCH * 5 * 229) % 97) * 0.01).astype(np.float32).reshape(BATCH, 1, 5, 229)
    for name in ("convnet", "smallconvnet"):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(f"{model_dir}/{name}.onnx", opts, providers=["CPUExecutionProvider"])
        for _ in range(5):
            session.run(["probabilities"], {"spectrogram": x})
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < 5.0:
            session.run(["probabilities"], {"spectrogram": x})
            runs += 1
        seconds = (time.perf_counter() - start) / runs
        print(f"python onnxruntime {ort.__version__} {name}: {seconds * 1e3:.3f} ms/batch, {BATCH / seconds:,.0f} frames/s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/bench-models")

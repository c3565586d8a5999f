"""The systems' own Python code as test oracles (run in .venv-systems, made by
scripts/setup-systems-venv.sh). Writes one float32 .npy per call.

  basic-pitch WAV OUT   basic_pitch.inference.run_inference with the ONNX model: "note" [T, 88]
  frame-times N OUT     basic_pitch.note_creation.model_frames_to_time(N) [N] (float64)
  resample WAV OUT      librosa.load(WAV, sr=22050, mono=True), what basic-pitch feeds its model
  adsr WAV OUT          madmom CNNPianoNoteProcessor()(WAV)[..., 0] [T, 88] (sounding note)
  adsr-spec WAV OUT     its pre-processing up to the log spectrogram, before _cnn_pad [T, 144]
"""
import logging
import sys
import warnings

logging.disable(logging.WARNING)  # basic-pitch warns about every backend it does not find
warnings.simplefilter("ignore")

import numpy as np


def main(command, arg, out):
    if command == "basic-pitch":
        import pathlib
        import basic_pitch
        from basic_pitch.inference import Model, run_inference

        model_path = pathlib.Path(basic_pitch.__file__).parent / "saved_models/icassp_2022/nmp.onnx"
        model = Model(model_path)
        assert model.model_type == Model.MODEL_TYPES.ONNX, model.model_type
        result = run_inference(arg, model)["note"]
    elif command == "frame-times":
        from basic_pitch.note_creation import model_frames_to_time

        result = model_frames_to_time(int(arg)).astype(np.float64)
    elif command == "resample":
        import librosa
        from basic_pitch.constants import AUDIO_SAMPLE_RATE

        result, _ = librosa.load(arg, sr=AUDIO_SAMPLE_RATE, mono=True)
    elif command == "adsr":
        from madmom.features.notes import CNNPianoNoteProcessor

        result = CNNPianoNoteProcessor()(arg)[..., 0]
    elif command == "adsr-spec":
        from madmom.features.notes import CNNPianoNoteProcessor

        # The first processor of the chain is the pre-processing; its last step is _cnn_pad.
        pre = CNNPianoNoteProcessor().processors[0]
        data = arg
        for step in pre.processors[:-1]:
            data = step(data)
        result = np.asarray(data)
    else:
        sys.exit("unknown command %r" % command)
    if result.dtype != np.float64:
        result = np.asarray(result, dtype=np.float32)
    np.save(out, result)


if __name__ == "__main__":
    main(*sys.argv[1:])

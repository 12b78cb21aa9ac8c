"""The paper's own numbers (Tables 2 and 3, as printed) and the names the report uses for students and modes.

The only numbers in tfdistil/report/ are these; everything else is read from files the pipeline wrote.
"""
import os
import re


# The paper's Tables 2 and 3, as printed (test accuracy in %, parameters in millions).
# `inference` is the paper's "Inference" column verbatim; it is a parameter ratio, not a timing.
PAPER = {
    "source": "Tables 2 and 3 of the reproduced paper (BERT distillation into BiLSTM/CNN on SST-2)",
    "teacher": {"name": "BERT base", "test_accuracy": 93.46, "params_m": 110.0, "inference": "x1"},
    "students": {
        "bilstm_attn": {"baseline": 85.21, "distill": 85.37, "params_m": 0.75, "inference": "x160"},
        "bilstm": {"baseline": 83.03, "distill": 84.40, "params_m": None, "inference": None},
        "cnn": {"baseline": 79.47, "distill": 80.39, "params_m": 0.63, "inference": "x175"},
    },
}


BERT_BASE_PARAMS = PAPER["teacher"]["params_m"] * 1e6


STUDENT_ORDER = ("bilstm_attn", "bilstm", "cnn")  # the paper's row order


STUDENT_NAMES = {"bilstm_attn": "BiLSTM-Attn", "bilstm": "BiLSTM", "cnn": "CNN"}


MODES = ("baseline", "distill", "augment")  # augment = distilled on an augmented transfer set


MODE_NAMES = {"baseline": "the baseline", "distill": "plain distillation", "augment": "augmented distillation"}


RUN_NAME = re.compile(r"^(?P<student>[a-z_]+)-(?P<mode>baseline|distill|augment)-s(?P<seed>\d+)$")


SHIPPED_TEACHER_INFO = os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets", "sst2_minilm_logits.json")


DASH = "–"


COLORS = {"bilstm_attn": "tab:blue", "bilstm": "tab:green", "cnn": "tab:red"}


SETTING_NAMES = {"embed_dim": "embedding", "hidden": "hidden", "filters": "filters", "dropout": "dropout",
                 "max_len": "max length", "min_freq": "min word count", "max_vocab": "vocabulary cap",
                 "epochs": "epochs", "batch_size": "batch", "lr": "lr", "gamma": "StepLR γ", "alpha": "α",
                 "distill_loss": "soft-target loss", "temperature": "temperature"}


RUNTIME_GAP = 0.02  # int8 accuracy gap (LiteRT vs TFLM) worth a sentence: beyond rounding of one flatbuffer

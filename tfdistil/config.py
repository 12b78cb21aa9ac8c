"""All knobs of a student run in one small dataclass, saved as `config.json` in the run folder."""
import dataclasses
import json
import math
import numbers
from dataclasses import dataclass

from tfdistil.errors import UserError

STUDENTS = ("cnn", "bilstm", "bilstm_attn")

# The paper's sizes (§4.3, Table 3), where our defaults differ: its CNN has 1 filter per kernel
# size (ours 64), and it does not state its vocabulary; capping ours at the 9,825 most frequent
# training words gives its CNN's 0.63 M parameters (9,825 x 64 + 1,157). Everything else
# (embedding 64, hidden 64, kernel sizes 3/4/5, Adam 1e-3, StepLR 0.9, batch 32, 20 epochs) is
# already the paper's.
PAPER_EXACT = {"filters": 1, "max_vocab": 9825}

# `convert --quantize`: defined here (no numpy, no TensorFlow) so the CLI's choices are the library's.
QUANTIZATIONS = ("float32", "dynamic", "float16", "int8")  # each runs in every runtime (tests/test_runtime_matrix.py)
# 16-bit activations, 8-bit weights: offered, but TF 2.21's converter refuses every student (one line says why)
EXPERIMENTAL_QUANTIZATIONS = ("int16x8",)


@dataclass
class Config:
    student: str = "cnn"                 # cnn | bilstm | bilstm_attn
    # architecture (paper §4.3: embedding 64, hidden 64, 3 kernel sizes, one dense layer)
    embed_dim: int = 64
    hidden: int = 64                     # LSTM units per direction; dense width
    attention_dim: int = 0               # bilstm_attn: width of the attention projection; 0 = 2 x hidden
    filters: int = 64                    # CNN filters per kernel size
    kernel_sizes: tuple = (3, 4, 5)
    # bilstm / bilstm_attn: > 0 = a 'same' Conv1D of this width (ReLU, embed_dim filters) over the
    # embeddings before the LSTMs, so each step reads a word with its neighbours ("not good",
    # "but the") as one feature: a lever for sentences whose meaning turns on word order
    pre_conv: int = 0
    dropout: float = 0.5
    # vocabulary (train split only)
    max_len: int = 128
    min_freq: int = 1
    max_vocab: int = 0                   # 0 = no cap
    hash_buckets: int = 0                # > 0: no word table, ids from the word's hash (tokenizer rule 5)
    # a WordPiece vocab.txt (or a teacher folder with one): the vocabulary holds the wordpieces the
    # train words split into, and an unseen word is read as pieces, not <unk> (tokenizer rule 6)
    subwords: str = ""
    vocab_size: int = 0                  # filled in from the vocabulary
    num_classes: int = 2                 # filled in from the training labels (SST-2: 2)
    # training (paper: Adam, StepLR gamma 0.9 per epoch, batch 32, 20 epochs, best dev epoch)
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    gamma: float = 0.9
    # > 0: Adam keeps an exponential moving average of the weights (this momentum per step), and
    # each epoch ends on the average: evaluated, checkpointed and trained on from there
    ema: float = 0.0
    seed: int = 0
    # distillation: loss = alpha * CE(labels) + (1 - alpha) * MSE(teacher logits, student logits)
    distill: bool = False
    alpha: float = 0.5
    distill_loss: str = "mse"            # mse | kl (temperature-scaled KL, Hinton et al.)
    temperature: float = 1.0
    # > 0: each row's soft term is weighted by 1 + this x how far apart teacher and student are on it
    # (total variation of their softmaxes, 0..1; weights renormalised to mean 1 in the batch): more of
    # the gradient goes where the student does not yet read the sentence as the teacher does
    disagree_weight: float = 0.0
    teacher_logits: str = ""             # path of the npz cache; "" = the shipped SST-2 cache
    train_limit: int = 0                 # 0 = all training rows (tests use small slices)
    # With min_freq 1 every training word is in the vocabulary, so the <unk> row would never
    # see a gradient; replacing this fraction of training tokens by <unk> trains it.
    word_dropout: float = 0.0
    # a teacher folder: the student's embedding rows start from the teacher's input embeddings
    # (mean wordpiece vector, PCA to embed_dim; students/teacher_embeddings.py); "" = random, the paper's
    embed_init: str = ""

    def __post_init__(self):
        # Types first (a config.json can hold anything), then ranges: a wrong value fails here,
        # in a second, not after minutes of training.
        for f in dataclasses.fields(self):
            value, kind = getattr(self, f.name), type(f.default)
            numeric = isinstance(value, numbers.Real) and not isinstance(value, bool)
            if kind is float and numeric:
                if not math.isfinite(value):
                    raise UserError(f"{f.name} must be a finite number, got {value!r}")
                setattr(self, f.name, float(value))
            elif kind is int and numeric and math.isfinite(value) and float(value).is_integer():
                setattr(self, f.name, int(value))
            elif kind in (int, float, bool, str) and not isinstance(value, kind):
                raise UserError(f"{f.name} must be {kind.__name__}, got {value!r}")
        if not isinstance(self.kernel_sizes, (list, tuple)) or not all(
                isinstance(k, int) and not isinstance(k, bool) for k in self.kernel_sizes):
            raise UserError(f"kernel_sizes must be a list of integers, got {self.kernel_sizes!r}")
        self.kernel_sizes = tuple(self.kernel_sizes)
        if self.student not in STUDENTS:
            raise UserError(f"unknown student {self.student!r}; choose one of {', '.join(STUDENTS)}")
        if not 0.0 <= self.alpha <= 1.0:
            raise UserError(f"--alpha must be in [0, 1], got {self.alpha}")
        if self.distill_loss not in ("mse", "kl"):
            raise UserError(f"unknown distillation loss {self.distill_loss!r}; choose mse or kl")
        if self.epochs < 1 or self.batch_size < 1 or self.max_len < 1:
            raise UserError("--epochs, --batch-size and --max-len must be positive")
        positive = ("embed_dim", "hidden", "filters", "min_freq", "lr", "temperature")
        bad = [n for n in positive if getattr(self, n) <= 0]
        if bad:
            raise UserError(f"{', '.join(bad)} must be positive, got "
                            f"{', '.join(str(getattr(self, n)) for n in bad)}")
        if not 0.0 < self.gamma <= 1.0:
            raise UserError(f"gamma (the per-epoch learning-rate decay) must be in (0, 1], got {self.gamma}")
        if self.disagree_weight < 0:
            raise UserError(f"disagree_weight must be 0 (off) or positive, got {self.disagree_weight}")
        if not 0.0 <= self.ema < 1.0:
            raise UserError(f"ema (the weight average's momentum per step) must be in [0, 1), got {self.ema}")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.word_dropout < 1.0:
            raise UserError(f"--word-dropout must be in [0, 1), got {self.word_dropout}")
        if not 0 <= self.seed < 2 ** 32:
            raise UserError(f"--seed must be in [0, 2^32), got {self.seed}")
        if self.num_classes < 2:
            raise UserError(f"num_classes must be at least 2, got {self.num_classes}")
        if self.hash_buckets and (self.hash_buckets < 3 or self.max_vocab):
            raise UserError("--hash-buckets must be at least 3, and replaces --max-vocab (use one of them)")
        if self.subwords and self.hash_buckets:
            raise UserError("--subwords needs a word table; it cannot be combined with --hash-buckets")
        if self.embed_init and self.hash_buckets:
            raise UserError("--embed-init needs a word table; it cannot start hashed buckets (--hash-buckets)")
        if self.attention_dim < 0:
            raise UserError(f"attention_dim must be 0 (2 x hidden, the paper's) or positive, got {self.attention_dim}")
        if self.pre_conv < 0 or (self.pre_conv and self.student == "cnn"):
            raise UserError(f"pre_conv (a convolution before the LSTMs) must be 0 (off) or positive, and is for "
                            f"bilstm / bilstm_attn; got {self.pre_conv} for {self.student}")
        if self.max_vocab < 0 or self.train_limit < 0:
            raise UserError("--max-vocab and the train limit must be 0 (no cap) or positive")
        if not self.kernel_sizes or any(k < 1 for k in self.kernel_sizes):
            raise UserError(f"kernel_sizes must be positive integers, got {list(self.kernel_sizes)}")

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise UserError(f"unknown config keys: {', '.join(sorted(unknown))}")
        return cls(**d)

    @classmethod
    def load(cls, path):
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except FileNotFoundError:
            raise UserError(f"{path}: config file not found") from None
        except ValueError as e:
            raise UserError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(d, dict):
            raise UserError(f"{path}: expected a JSON object")
        return cls.from_dict(d.get("config", d))

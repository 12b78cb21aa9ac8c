"""The firmware's fingerprint word tables with a non-default FNV-1a basis, compiled and run in C.

"glbvs" and "yacxa" have the same FNV-1a-32 hash under the standard basis, so a vocabulary with
both makes `fingerprint_table` move to the next basis. The kit's tokenizer.c and vocab_data.c are
compiled with the host gcc and run on sentences with both words: each must get its own id, the one
Python's tokenizer gives (for fingerprint-ranks, the id the reordered embedding rows give it)."""
import shutil
import subprocess

import pytest

from tfdistil.data.tokenizer import FNV_BASIS, fnv1a32
from tfdistil.data.vocab import Vocab
from tfdistil.edge.mcu.c_vocab import c_vocabulary_layout, fingerprint_table, rank_order
from tfdistil.edge.mcu.firmware import write_tokenizer_files

WORDS = ["good", "film", "glbvs", "yacxa", "bad", "not", "a", ".", ",", "!", "u.s."]
SENTENCES = ["a good film", "glbvs yacxa", "yacxa , glbvs !", "not a GLBVS film.", "unknown yacxa words",
             "u.s. glbvsx yacx", ""]
MAIN = r"""
#include <stdio.h>
#include <string.h>
#include "tokenizer.h"
int main(int argc, char** argv) {
  char line[512];
  int32_t ids[16];
  FILE* f = fopen(argv[1], "r");
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    int n = tfdistil_tokenize(line, ids, 16);
    for (int i = 0; i < 16; ++i) printf(i ? " %d" : "%d", (int)ids[i]);
    printf(" | %d\n", n);
  }
  return 0;
}
"""


def test_the_pair_collides_under_the_standard_basis():
    assert fnv1a32(b"glbvs") == fnv1a32(b"yacxa")


@pytest.mark.parametrize("layout", ["fingerprints", "fingerprint-ranks"])
def test_non_default_basis_in_c_gives_pythons_ids(layout, tmp_path):
    gcc = shutil.which("gcc")
    assert gcc, "gcc not found"
    vocab = Vocab(WORDS, max_len=16)
    basis, _ = fingerprint_table(vocab)
    assert basis != FNV_BASIS  # the C code below runs the non-default path
    write_tokenizer_files(vocab, c_vocabulary_layout(vocab, layout), str(tmp_path))
    (tmp_path / "main.c").write_text(MAIN)
    (tmp_path / "sentences.txt").write_text("".join(s + "\n" for s in SENTENCES))
    exe = tmp_path / "tok"
    subprocess.run([gcc, "-std=c99", "-O1", "-I", str(tmp_path), str(tmp_path / "main.c"), str(tmp_path / "tokenizer.c"),
                    str(tmp_path / "vocab_data.c"), "-o", str(exe)], check=True, capture_output=True)
    out = subprocess.run([str(exe), str(tmp_path / "sentences.txt")], check=True, capture_output=True,
                         text=True).stdout.splitlines()
    new_id = {old: 2 + k for k, old in enumerate(rank_order(vocab))} if layout == "fingerprint-ranks" else {}
    for sentence, line in zip(SENTENCES, out, strict=True):
        ids, n = line.split(" | ")
        expected = [new_id.get(int(i), int(i)) for i in vocab.encode(sentence)]
        assert [int(i) for i in ids.split()] == expected, sentence
        assert int(n) == sum(i != 0 for i in expected)
    two = [int(i) for i in out[1].split(" | ")[0].split()[:2]]
    assert two[0] != two[1] and 1 not in two  # the colliding pair: two different known words

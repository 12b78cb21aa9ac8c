// Host harness for the firmware kit's C tokenizer: one sentence per stdin line ->
// its token ids (space-separated) and the reverse index, one line each.
#include <stdio.h>
#include <string.h>
#include "tokenizer.h"

#define MAX_LEN 128

int main(void) {
  static char line[65536];
  int32_t ids[MAX_LEN], rev[MAX_LEN];
  while (fgets(line, sizeof(line), stdin)) {
    line[strcspn(line, "\n")] = 0;
    int n = tfdistil_tokenize(line, ids, MAX_LEN);
    tfdistil_reverse_index(n, MAX_LEN, rev);
    for (int i = 0; i < MAX_LEN; ++i) printf(i ? " %d" : "%d", ids[i]);
    printf("\n");
    for (int i = 0; i < MAX_LEN; ++i) printf(i ? " %d" : "%d", rev[i]);
    printf("\n");
  }
  return 0;
}

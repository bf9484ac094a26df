// Writes a small but whole checkpoint (every field, tiny tensors) for the checkpoint fuzz
// target's seed corpus: tests/fuzz/make_seeds.sh runs it.
#include <iostream>

#include "checkpoint/Checkpoint.h"
#include "checkpoint/SampleCheckpoint.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_checkpoint_seed OUT.pt\n";
    return 2;
  }
  tsn::writeCheckpoint(tsn::sampleCheckpoint(23), argv[1]);
  tsn::readCheckpoint(argv[1]);  // the seed must be one the reader accepts
  return 0;
}

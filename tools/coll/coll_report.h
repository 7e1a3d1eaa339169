// farlink coll's output: nccl-tests' columns (size, count, type, redop,
// root, time, algbw, busbw, #wrong) for people, one JSON object per size
// for machines.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "coll/coll_data.h"

namespace farlink::colltool {

struct Row {
  CollOp op = CollOp::kAllreduce;
  DataType type = DataType::kFloat32;
  ReduceOp redop = ReduceOp::kSum;
  int root = -1;       // -1: the op has none
  uint64_t bytes = 0;  // S (Shape::bytes)
  uint64_t count = 0;  // S in elements, as nccl-tests prints it
  int world = 0;
  int iterations = 0;
  double time_us = 0;     // per iteration, the slowest rank's
  int64_t wrong = -1;     // -1: not checked
  std::string algorithm;  // "hierarchical", "ring", ...
};

// S / time in GB/s (10^9 bytes), and algbw scaled by busBwFactor.
double algBw(const Row& r);
double busBw(const Row& r);

// `title` is the "# ..." line describing the world.
void printHeader(FILE* out, const std::string& title);
void printRow(FILE* out, const Row& r);
// One JSON object, no newline.
std::string toJson(const Row& r);

}  // namespace farlink::colltool

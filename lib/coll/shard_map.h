// Which elements each rank carries across sites in a hierarchical
// collective. Each site splits the buffer into one contiguous block per
// local rank (blockPartition). The shard map is the common refinement of all
// sites' partitions: every segment lies inside exactly one block of every
// site, so its inter-site reduction involves one owner per site. With equal
// sites this is "shard i is carried by the i-th rank of every site"; with
// unequal sites every rank still carries a share proportional to 1/L_site.
// Pure logic, no I/O.
#pragma once

#include <cstddef>
#include <vector>

namespace farlink::coll {

struct Block {
  size_t offset = 0;
  size_t count = 0;
};

// `parts` blocks covering [0, count): sizes differ by at most one, larger first.
std::vector<Block> blockPartition(size_t count, int parts);

struct Segment {
  size_t offset = 0;
  size_t count = 0;
  std::vector<int> owner;  // owner[s]: local rank of site s whose block holds it
};

// Non-empty segments in offset order. site_sizes[s] >= 1.
std::vector<Segment> shardMap(size_t count, const std::vector<int>& site_sizes);

// Pipeline pieces of a hierarchical collective: [0, count) cut into
// ceil(count * elem_size / piece_bytes) blocks (at least 1, at most
// max_pieces and count; piece_bytes 0 means one piece), sizes as
// blockPartition.
std::vector<Block> piecePartition(size_t count, size_t elem_size, size_t piece_bytes,
                                  int max_pieces);

}  // namespace farlink::coll

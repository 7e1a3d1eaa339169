#include "coll/shard_map.h"

#include <algorithm>

namespace farlink::coll {

std::vector<Block> blockPartition(size_t count, int parts) {
  std::vector<Block> out(size_t(std::max(parts, 0)));
  if (parts <= 0) return out;
  size_t base = count / size_t(parts), extra = count % size_t(parts), off = 0;
  for (size_t j = 0; j < out.size(); ++j) {
    out[j].offset = off;
    out[j].count = base + (j < extra ? 1 : 0);
    off += out[j].count;
  }
  return out;
}

std::vector<Block> piecePartition(size_t count, size_t elem_size, size_t piece_bytes,
                                  int max_pieces) {
  size_t bytes = count * elem_size, n = 1;
  if (piece_bytes > 0) n = (bytes + piece_bytes - 1) / piece_bytes;
  // Never an empty piece: each costs adapter calls and a round on the link.
  n = std::min(n, std::max<size_t>(count, 1));
  n = std::clamp<size_t>(n, 1, size_t(std::max(max_pieces, 1)));
  return blockPartition(count, int(n));
}

std::vector<Segment> shardMap(size_t count, const std::vector<int>& site_sizes) {
  std::vector<std::vector<Block>> parts;
  std::vector<size_t> cuts{0, count};
  for (int n : site_sizes) {
    parts.push_back(blockPartition(count, n));
    for (const Block& b : parts.back()) cuts.push_back(b.offset);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());

  std::vector<Segment> out;
  std::vector<size_t> cursor(parts.size(), 0);  // current block per site
  for (size_t i = 0; i + 1 < cuts.size(); ++i) {
    Segment seg;
    seg.offset = cuts[i];
    seg.count = cuts[i + 1] - cuts[i];
    if (seg.count == 0) continue;
    for (size_t s = 0; s < parts.size(); ++s) {
      // Skip blocks that end at or before this segment (empty ones included).
      while (parts[s][cursor[s]].offset + parts[s][cursor[s]].count <= seg.offset) ++cursor[s];
      seg.owner.push_back(int(cursor[s]));
    }
    out.push_back(std::move(seg));
  }
  return out;
}

}  // namespace farlink::coll

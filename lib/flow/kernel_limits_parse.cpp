// Parsing half of kernel_limits.h (no I/O).
#include <charconv>
#include <string>
#include <vector>

#include "flow/kernel_limits.h"

namespace farlink::flow {
namespace {

Status badText(std::string_view file, std::string_view text, std::string_view want) {
  std::string shown(text.substr(0, 64));
  while (!shown.empty() && (shown.back() == '\n' || shown.back() == ' ')) shown.pop_back();
  return Status(StatusCode::kInvalidArgument, "kernel limits: " + std::string(file) + " holds \"" +
                                                  shown + "\", expected " + std::string(want) +
                                                  "; check the file or pass limits explicitly");
}

// Whitespace-separated unsigned integers.
std::optional<std::vector<uint64_t>> numbers(std::string_view text) {
  std::vector<uint64_t> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n')) i++;
    if (i == text.size()) break;
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(text.data() + i, text.data() + text.size(), v);
    if (ec != std::errc() ||
        (p != text.data() + text.size() && *p != ' ' && *p != '\t' && *p != '\n'))
      return std::nullopt;
    out.push_back(v);
    i = static_cast<size_t>(p - text.data());
  }
  return out;
}

Status parseTriple(const std::optional<std::string>& text, std::string_view file, uint64_t& max) {
  if (!text) return Status::ok();
  auto n = numbers(*text);
  if (!n || n->size() != 3 || (*n)[2] == 0)
    return badText(file, *text, "three byte counts \"min default max\"");
  max = (*n)[2];
  return Status::ok();
}

Status parseSingle(const std::optional<std::string>& text, std::string_view file, uint64_t& value) {
  if (!text) return Status::ok();
  auto n = numbers(*text);
  if (!n || n->size() != 1 || (*n)[0] == 0) return badText(file, *text, "one byte count");
  value = (*n)[0];
  return Status::ok();
}

}  // namespace

Result<KernelLimits> parseKernelLimits(const KernelLimitTexts& texts) {
  KernelLimits k;
  if (Status s = parseTriple(texts.tcp_wmem, "net/ipv4/tcp_wmem", k.tcp_wmem_max); !s) return s;
  if (Status s = parseTriple(texts.tcp_rmem, "net/ipv4/tcp_rmem", k.tcp_rmem_max); !s) return s;
  if (Status s = parseSingle(texts.core_wmem_max, "net/core/wmem_max", k.core_wmem_max); !s)
    return s;
  if (Status s = parseSingle(texts.core_rmem_max, "net/core/rmem_max", k.core_rmem_max); !s)
    return s;
  return k;
}

}  // namespace farlink::flow

#include "coll/coll_report.h"

#include <nlohmann/json.hpp>

namespace farlink::colltool {

double algBw(const Row& r) { return r.time_us > 0 ? double(r.bytes) / r.time_us / 1e3 : 0; }
double busBw(const Row& r) { return algBw(r) * busBwFactor(r.op, r.world); }

void printHeader(FILE* out, const std::string& title) {
  std::fprintf(out, "# %s\n#\n", title.c_str());
  std::fprintf(out, "# %12s %12s %8s %7s %5s %10s %8s %8s %7s\n", "size", "count", "type", "redop",
               "root", "time", "algbw", "busbw", "#wrong");
  std::fprintf(out, "# %12s %12s %8s %7s %5s %10s %8s %8s %7s\n", "(B)", "(elements)", "", "", "",
               "(us)", "(GB/s)", "(GB/s)", "");
}

void printRow(FILE* out, const Row& r) {
  const std::string redop = reduces(r.op) ? std::string(reduceOpName(r.redop)) : "none";
  const std::string wrong = r.wrong < 0 ? "N/A" : std::to_string(r.wrong);
  std::fprintf(out, "  %12llu %12llu %8s %7s %5d %10.1f %8.3f %8.3f %7s\n",
               (unsigned long long)r.bytes, (unsigned long long)r.count,
               std::string(dataTypeName(r.type)).c_str(), redop.c_str(), r.root, r.time_us,
               algBw(r), busBw(r), wrong.c_str());
  std::fflush(out);
}

std::string toJson(const Row& r) {
  nlohmann::ordered_json j;
  j["op"] = std::string(collOpName(r.op));
  j["algorithm"] = r.algorithm;
  j["size"] = r.bytes;
  j["count"] = r.count;
  j["type"] = std::string(dataTypeName(r.type));
  j["redop"] = reduces(r.op) ? std::string(reduceOpName(r.redop)) : "none";
  j["root"] = r.root;
  j["ranks"] = r.world;
  j["iterations"] = r.iterations;
  j["time_us"] = r.time_us;
  j["algbw_gbps"] = algBw(r);
  j["busbw_gbps"] = busBw(r);
  if (r.wrong >= 0)
    j["wrong"] = r.wrong;
  else
    j["wrong"] = nullptr;
  return j.dump();
}

}  // namespace farlink::colltool

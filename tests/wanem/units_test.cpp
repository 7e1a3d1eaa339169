// Unit parsing, the link options' precedence and the control-socket patch codec.
#include <gtest/gtest.h>

#include "link_options.h"
#include "link_params.h"
#include "units.h"

namespace farlink::wanem {
namespace {

TEST(Units, Durations) {
  EXPECT_EQ(*parseDuration("15ms"), 15'000'000);
  EXPECT_EQ(*parseDuration("250us"), 250'000);
  EXPECT_EQ(*parseDuration("2s"), 2'000'000'000);
  EXPECT_EQ(*parseDuration("1.5s"), 1'500'000'000);
  EXPECT_EQ(*parseDuration("800ns"), 800);
  EXPECT_EQ(*parseDuration("0"), 0);
  EXPECT_EQ(*parseDuration(" 3 MS "), 3'000'000);
  EXPECT_FALSE(parseDuration("15").isOk());  // missing unit
  EXPECT_FALSE(parseDuration("15min").isOk());
  EXPECT_FALSE(parseDuration("-1ms").isOk());
  EXPECT_FALSE(parseDuration("ms").isOk());
  EXPECT_FALSE(parseDuration("2h").isOk());
  EXPECT_FALSE(parseDuration("7200s").isOk());  // over the 1-hour limit
}

TEST(Units, Rates) {
  EXPECT_DOUBLE_EQ(*parseRate("1gbit"), 1e9);
  EXPECT_DOUBLE_EQ(*parseRate("100Mbit"), 1e8);
  EXPECT_DOUBLE_EQ(*parseRate("2.5gbit"), 2.5e9);
  EXPECT_DOUBLE_EQ(*parseRate("64kbit"), 64e3);
  EXPECT_DOUBLE_EQ(*parseRate("unlimited"), 0);
  EXPECT_DOUBLE_EQ(*parseRate("0"), 0);
  EXPECT_FALSE(parseRate("1gbps").isOk());
  EXPECT_FALSE(parseRate("1000").isOk());
  EXPECT_FALSE(parseRate("100bit").isOk());  // below the minimum
}

TEST(Units, Bytes) {
  EXPECT_EQ(*parseBytes("1500"), 1500);
  EXPECT_EQ(*parseBytes("1MB"), 1'000'000);
  EXPECT_EQ(*parseBytes("64KB"), 64'000);
  EXPECT_EQ(*parseBytes("64KiB"), 65'536);
  EXPECT_EQ(*parseBytes("4MiB"), 4 << 20);
  EXPECT_EQ(*parseBytes("1GiB"), 1LL << 30);
  EXPECT_EQ(*parseBytes("100B"), 100);
  EXPECT_FALSE(parseBytes("1XB").isOk());
  EXPECT_FALSE(parseBytes("").isOk());
}

TEST(Units, Probabilities) {
  EXPECT_DOUBLE_EQ(*parseProbability("1%"), 0.01);
  EXPECT_DOUBLE_EQ(*parseProbability("0.01%"), 0.0001);
  EXPECT_DOUBLE_EQ(*parseProbability("0.2"), 0.2);
  EXPECT_DOUBLE_EQ(*parseProbability("100%"), 1.0);
  EXPECT_FALSE(parseProbability("101%").isOk());
  EXPECT_FALSE(parseProbability("2").isOk());
  EXPECT_FALSE(parseProbability("5 percent").isOk());
}

TEST(Units, Formatting) {
  EXPECT_EQ(formatDuration(15'000'000), "15 ms");
  EXPECT_EQ(formatDuration(2'000'000'000), "2 s");
  EXPECT_EQ(formatDuration(250'000), "250 us");
  EXPECT_EQ(formatRate(1e9), "1 Gbit/s");
  EXPECT_EQ(formatRate(0), "unlimited");
  EXPECT_EQ(formatBytes(1500), "1500 B");
  EXPECT_EQ(formatBytes(3'750'000), "3.8 MB");
}

LinkPatch parse(std::vector<std::string> args) {
  CLI::App app;
  LinkPatch patch;
  addLinkOptions(&app, &patch);
  std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
  app.parse(args);
  return patch;
}

TEST(LinkOptions, OneDirectionOverridesBothWhateverTheOrder) {
  for (auto args : {std::vector<std::string>{"--delay", "10ms", "--a2b-delay", "5ms"},
                    std::vector<std::string>{"--a2b-delay", "5ms", "--delay", "10ms"}}) {
    LinkPatch p = parse(args);
    EXPECT_EQ(*p.a2b.delay_ns, 5'000'000);
    EXPECT_EQ(*p.b2a.delay_ns, 10'000'000);
  }
}

TEST(LinkOptions, AllKinds) {
  LinkPatch p = parse({"--rate", "1gbit", "--queue", "1MB", "--loss", "1%", "--jitter", "1ms",
                       "--jitter-dist", "uniform", "--reorder", "--b2a-no-reorder", "--ge-p", "0.1%"});
  EXPECT_DOUBLE_EQ(*p.a2b.rate_bps, 1e9);
  EXPECT_EQ(*p.b2a.queue_bytes, 1'000'000);
  EXPECT_DOUBLE_EQ(*p.b2a.loss, 0.01);
  EXPECT_EQ(*p.a2b.jitter_dist, JitterDist::kUniform);
  EXPECT_TRUE(*p.a2b.reorder);
  EXPECT_FALSE(*p.b2a.reorder);
  EXPECT_DOUBLE_EQ(*p.a2b.ge_p, 0.001);
  EXPECT_FALSE(p.a2b.delay_ns.has_value());
}

TEST(LinkOptions, BadValuesNameTheOption) {
  try {
    parse({"--b2a-loss", "150%"});
    FAIL() << "accepted 150% loss";
  } catch (const CLI::ValidationError& e) {
    EXPECT_NE(std::string(e.what()).find("--b2a-loss"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse({"--delay", "15"}), CLI::ValidationError);
  EXPECT_THROW(parse({"--jitter-dist", "pareto"}), CLI::ValidationError);
}

TEST(LinkParams, PatchRoundTripsThroughJson) {
  LinkPatch p = parse({"--delay", "15ms", "--rate", "100mbit", "--reorder", "--jitter-dist", "uniform"});
  auto back = dirPatchFromJson(toJson(p.a2b));
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  LinkParams a, b;
  p.a2b.applyTo(a);
  back->applyTo(b);
  EXPECT_EQ(toJson(a), toJson(b));
}

TEST(LinkParams, PatchFromJsonRejectsGarbage) {
  EXPECT_FALSE(dirPatchFromJson(nlohmann::json::parse(R"({"delay_ns": -5})")).isOk());
  EXPECT_FALSE(dirPatchFromJson(nlohmann::json::parse(R"({"delay": 5})")).isOk());
  EXPECT_FALSE(dirPatchFromJson(nlohmann::json::parse(R"({"reorder": "yes"})")).isOk());
  EXPECT_FALSE(dirPatchFromJson(nlohmann::json::parse(R"([1,2])")).isOk());
}

TEST(LinkParams, ValidateCatchesAStuckBadState) {
  LinkParams p;
  EXPECT_TRUE(p.validate().isOk());
  p.ge.p = 0.1;
  p.ge.r = 0;
  EXPECT_FALSE(p.validate().isOk());
}

}  // namespace
}  // namespace farlink::wanem

// Adapter loading: the built-in one, a wrong api_version, a module without
// the symbol and a missing file each give a clear error.
#include <gtest/gtest.h>

#include <cstdlib>

#include "coll/adapter.h"

using namespace farlink;
using farlink::coll::loadAdapter;

namespace {

std::string dir() {
  const char* d = std::getenv("COLL_TEST_MODULES");
  return d ? d : ".";
}

TEST(AdapterAbi, BuiltInFarlink) {
  auto a = loadAdapter("farlink");
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  EXPECT_EQ(a->api->api_version, FARLINK_COLL_ADAPTER_API_VERSION);
  EXPECT_STREQ(a->api->name, "farlink");
}

TEST(AdapterAbi, VersionMismatchIsRefused) {
  auto a = loadAdapter(dir() + "/farlink-coll-badversion.so");
  ASSERT_FALSE(a.isOk());
  EXPECT_EQ(a.status().code(), StatusCode::kNotSupported);
  std::string m = a.status().message();
  EXPECT_NE(m.find("version 999"), std::string::npos) << m;
  EXPECT_NE(m.find("needs version 1"), std::string::npos) << m;
}

TEST(AdapterAbi, ModuleWithoutSymbol) {
  auto a = loadAdapter(dir() + "/farlink-coll-nosymbol.so");
  ASSERT_FALSE(a.isOk());
  EXPECT_NE(a.status().message().find("does not export farlink_coll_adapter_v1"),
            std::string::npos)
      << a.status().message();
}

TEST(AdapterAbi, MissingFileAndUnknownName) {
  auto a = loadAdapter(dir() + "/no-such-adapter.so");
  ASSERT_FALSE(a.isOk());
  EXPECT_NE(a.status().message().find("cannot load collective adapter"), std::string::npos);
  ::setenv("FARLINK_COLL_ADAPTER_PATH", dir().c_str(), 1);
  auto b = loadAdapter("nonexistent");
  ASSERT_FALSE(b.isOk());
  EXPECT_NE(b.status().message().find("farlink-coll-nonexistent.so"), std::string::npos);
  EXPECT_NE(b.status().message().find("FARLINK_COLL_ADAPTER_PATH"), std::string::npos);
  // By name through the search path.
  auto c = loadAdapter("badversion");
  ASSERT_FALSE(c.isOk());
  EXPECT_NE(c.status().message().find("version 999"), std::string::npos);
}

}  // namespace

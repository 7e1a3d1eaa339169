// Option parsing and error reporting shared by the farlink subcommands.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "farlink/options.h"
#include "farlink/status.h"

namespace farlink::tools {

// Documented in man/farlink.1.md; keep in sync.
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,   // runtime or transport error
  kExitUsage = 2,   // bad command line or FARLINK_* variable
  kExitVerify = 3,  // received data differs from what was sent
};

// "64", "4K", "1M", "2G", "1KiB" (binary multiples). nullopt on garbage or overflow.
std::optional<uint64_t> parseSize(std::string_view text);
// CLI11 check for options that take parseSize() values.
CLI::Validator sizeValidator();
// 65536 -> "64 KiB", 1000 -> "1000 B".
std::string formatSize(uint64_t bytes);

// "host:port", with brackets around IPv6 literals.
std::string hostPort(std::string_view host, uint16_t port);
// "<transport>://host:port".
std::string makeUri(std::string_view transport, std::string_view host, uint16_t port);

// Prints "farlink <tool>: <message>" on one line to stderr.
void printError(std::string_view tool, std::string_view message);
// A Status for a person: "<code name>: <message> (<errno text>)".
inline std::string describe(const Status& status) { return status.toString(); }
// "<what>: <status>", without repeating `what` when the library's message
// already starts with it (e.g. "cannot connect to 10.0.0.2:7174").
std::string failedTo(const std::string& what, const Status& status);

// Options every channel-opening subcommand shares. Unset fields keep the
// FARLINK_* environment value or the library default.
struct ChannelFlags {
  std::string transport = "tcp";
  int lanes = 0;  // 0: not given
  std::string psk;
};
void addTransportOption(CLI::App* app, ChannelFlags* flags);
// `default_lanes` is only shown in --help; the value comes from makeChannelOptions().
void addLaneAndKeyOptions(CLI::App* app, ChannelFlags* flags, int default_lanes);
// FARLINK_* variables over `defaults`, then the command-line flags; validated.
Result<ChannelOptions> makeChannelOptions(const ChannelFlags& flags, ChannelOptions defaults = {});

}  // namespace farlink::tools

#include "coll/coll_local.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>
#include <vector>

#include "core/unique_fd.h"

namespace farlink::colltool {
namespace {

using tools::kExitError;
using tools::kExitOk;
using tools::kExitUsage;

std::string siteName(int s) {
  return s < 26 ? std::string(1, char('A' + s)) : "S" + std::to_string(s);
}

// A port the kernel just had free on 127.0.0.1 for rank 0's rendezvous store.
Result<uint16_t> freePort() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (!fd.valid() || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return Status(StatusCode::kIoError, "no free port on 127.0.0.1 for the rendezvous", errno);
  return uint16_t(ntohs(a.sin_port));
}

std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
  return out;
}

// In the child: the variables a launcher would give this rank, then the
// same path as a launched rank.
[[noreturn]] void rankMain(const Plan& p, const CollOptions& o, int rank, int world, int sites,
                           uint16_t port, const std::string& adapter, const std::string& extra) {
  for (const char* v : {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "FARLINK_RANK_BASE"})
    ::unsetenv(v);
  ::setenv("RANK", std::to_string(rank).c_str(), 1);
  ::setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
  ::setenv("MASTER_ADDR", "127.0.0.1", 1);
  ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
  ::setenv("FARLINK_SITE", siteName(localSiteOf(rank, world, sites)).c_str(), 1);
  ::setenv("FARLINK_COLL_HOST", "127.0.0.1", 1);
  if (!std::getenv("FARLINK_COLL_TIMEOUT_MS") && o.timeout_s == 0)
    ::setenv("FARLINK_COLL_TIMEOUT_MS", "60000", 1);
  CollOptions mine = o;
  mine.adapter = adapter;
  int rc = kExitError;
  if (auto c = rankOptions(mine); !c)
    tools::printError("coll", "rank " + std::to_string(rank) + ": " + c.status().message());
  else
    rc = runRank(p, c.value(), extra);
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(rc);
}

std::string describeExit(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + ::strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace

int localSiteOf(int rank, int world, int sites) {
  // world/sites ranks per site, the remainder one each on the first sites
  // (as blockPartition splits a buffer), contiguous in rank order.
  const int base = world / sites, extra = world % sites;
  const int big = extra * (base + 1);  // ranks in the sites that got one more
  return rank < big ? rank / (base + 1) : extra + (rank - big) / base;
}

int runLocal(const Plan& p, const CollOptions& o) {
  const int world = o.local > 0 ? o.local : 4;
  const int sites = std::min(o.sites, world);
  std::vector<std::string> adapters = splitList(
      o.adapter.empty()
          ? (std::getenv("FARLINK_COLL_ADAPTER") ? std::getenv("FARLINK_COLL_ADAPTER") : "farlink")
          : o.adapter);
  if (adapters.empty()) adapters.push_back("farlink");
  if (int(adapters.size()) > sites) {
    tools::printError("coll", "--adapter lists " + std::to_string(adapters.size()) +
                                  " adapters for " + std::to_string(sites) + " site(s)");
    return kExitUsage;
  }
  std::string extra = "; sites";
  for (int s = 0; s < sites; ++s) {
    const std::string& a = adapters[size_t(s) % adapters.size()];
    if (a == "mpi") {
      tools::printError("coll",
                        "--local cannot start an 'mpi' site: MPI ranks need mpirun. Run "
                        "e.g. 'mpirun -np 4 farlink coll' (see farlink-coll(1))");
      return kExitUsage;
    }
    int n = 0;
    for (int r = 0; r < world; ++r) n += localSiteOf(r, world, sites) == s;
    extra += " " + siteName(s) + "=" + std::to_string(n) + "x" + a;
  }
  auto port = freePort();
  if (!port) {
    tools::printError("coll", port.status().toString());
    return kExitError;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<pid_t> pids(size_t(world), -1);
  for (int r = 0; r < world; ++r) {
    pid_t pid = ::fork();
    if (pid == 0)
      rankMain(p, o, r, world, sites, *port,
               adapters[size_t(localSiteOf(r, world, sites)) % adapters.size()], extra);
    if (pid < 0) {
      tools::printError("coll", std::string("cannot fork rank ") + std::to_string(r) + ": " +
                                    std::strerror(errno));
      for (pid_t q : pids)
        if (q > 0) ::kill(q, SIGKILL);
      for (pid_t q : pids)
        if (q > 0) ::waitpid(q, nullptr, 0);
      return kExitError;
    }
    pids[size_t(r)] = pid;
  }

  // Reap; after the first failure the rest get kGraceSeconds, then SIGKILL.
  int worst = kExitOk, left = world;
  std::string first_failure;
  std::chrono::steady_clock::time_point kill_at = std::chrono::steady_clock::time_point::max();
  while (left > 0) {
    bool reaped = false;
    for (int r = 0; r < world; ++r) {
      if (pids[size_t(r)] <= 0) continue;
      int status = 0;
      if (::waitpid(pids[size_t(r)], &status, WNOHANG) != pids[size_t(r)]) continue;
      pids[size_t(r)] = -1;
      --left;
      reaped = true;
      int rc = WIFEXITED(status) ? WEXITSTATUS(status) : kExitError;
      if (!WIFEXITED(status))
        tools::printError("coll", "rank " + std::to_string(r) + " died: " + describeExit(status));
      if (rc != kExitOk && first_failure.empty()) {
        first_failure = "rank " + std::to_string(r) + " (" + describeExit(status) + ")";
        kill_at = std::chrono::steady_clock::now() + std::chrono::seconds(kGraceSeconds);
      }
      // Wrong results (3) rank below errors (1) and usage (2) in severity.
      if (rc != kExitOk && (worst == kExitOk || worst == tools::kExitVerify)) worst = rc;
    }
    if (left > 0 && std::chrono::steady_clock::now() >= kill_at) {
      for (int r = 0; r < world; ++r) {
        if (pids[size_t(r)] <= 0) continue;
        tools::printError("coll", "rank " + std::to_string(r) + " was still running " +
                                      std::to_string(kGraceSeconds) + " s after " + first_failure +
                                      " failed; killing it");
        ::kill(pids[size_t(r)], SIGKILL);
      }
      kill_at = std::chrono::steady_clock::time_point::max();
    }
    if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return worst;
}

}  // namespace farlink::colltool

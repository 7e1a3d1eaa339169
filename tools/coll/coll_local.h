// farlink coll --local N: an embedded world of N forked ranks on loopback,
// split evenly into --sites sites (A, B, ...), each site on its adapter.
#pragma once

#include "coll/coll.h"

namespace farlink::colltool {

// Forks the ranks (each sets the torchrun variables a launcher would and runs
// runRank), waits for them, and returns the worst exit code. When a rank
// fails the others get kGraceSeconds to fail too before they are killed, so
// a broken world never hangs the command.
inline constexpr int kGraceSeconds = 10;
int runLocal(const Plan& plan, const CollOptions& o);

// Site of `rank` in a world of `world` ranks split evenly into `sites`
// (1 <= sites <= world), the first sites one larger when it does not divide.
int localSiteOf(int rank, int world, int sites);

}  // namespace farlink::colltool

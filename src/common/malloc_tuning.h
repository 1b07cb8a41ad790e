// glibc's allocator, tuned for the long-running roles (root, cluster, node, sim, shim). Their work
// is many short-lived small objects (JSON trees, strings, map nodes); with glibc's default of 7
// freed chunks per size in each thread's cache, most frees overflow into the shared bins and
// later allocations pay for sorting and consolidating them. A cache of kTcacheCount chunks per
// size saved about 5 % of the CPU of a deploy burst (docs/benchmarks.md, placement section).
//
// glibc reads GLIBC_TUNABLES once, when the dynamic loader starts the program, so the setting
// takes an exec: a role's main adds it to the environment and executes the same binary again
// (same PID, same arguments). Its children (the cluster's mosquitto) inherit it.
#pragma once

#include <string>

namespace oak {

inline constexpr int kTcacheCount = 256;

// GLIBC_TUNABLES with the tcache count added; an operator's own tcache count is kept. Pure.
std::string WithTcacheTunable(const char* current);

// Sets GLIBC_TUNABLES as WithTcacheTunable says; answers whether the environment changed (the
// running process then still has glibc's defaults until it executes again).
bool AddMallocTunables();

// Executes this binary again with `argv` (the file /proc/self/exe names); returns only if that
// fails, and the process then goes on with glibc's defaults.
void ExecSelf(char** argv);

}  // namespace oak

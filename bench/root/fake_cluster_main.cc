// oak_bench_fake_cluster: stand-in cluster managers for the root benchmarks (bench/root/stand_in.h).
//
// It registers `--clusters K` stand-ins with a running `oak root` (named NAME, NAME1, ...; retrying
// until the root answers), accepts every deploy on their loopback ports, and sends each stand-in's
// heartbeat every second with a capacity that never runs out, so that the root's dispatcher always
// finds a place. A heartbeat reports the instances received since the previous one as RUNNING,
// once (beyond 2,000, in status pushes right after it): re-reporting tens of thousands of
// unchanged instances every second would measure the stand-in, not the root.
//
// SIGUSR1 starts a status-push phase of `--push-seconds` seconds: one thread per stand-in sends
// pushes (bodies with only `jobs`) of `--push-batch` held instances each, back to back, each
// report changing the instance's status (CREATED and RUNNING in turn).
//
//   oak_bench_fake_cluster --root http://127.0.0.1:PORT --token JOIN_TOKEN [--name bench]
//       [--clusters 1] [--push-seconds 5] [--push-batch 500] [--ready-file F] [--stats-file F]
//
// The ready file receives the cluster ids once all are registered; the stats file is rewritten
// after every round of heartbeats and at the end of a push phase:
// `received=N held=N reported=N heartbeats=N failed_heartbeats=N pushes=N pushed=N failed_pushes=N
// push_s=S`.
// Stops on SIGTERM/SIGINT.
#include <signal.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "common/fs.h"
#include "stand_in.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string root, token, name = "bench", ready_file, stats_file;
  int clusters = 1;
  double push_seconds = 5;
  size_t push_batch = 500;
};

bool Parse(int argc, char** argv, Args& a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--root") a.root = v;
    else if (k == "--token") a.token = v;
    else if (k == "--name") a.name = v;
    else if (k == "--clusters") a.clusters = std::stoi(v);
    else if (k == "--push-seconds") a.push_seconds = std::stod(v);
    else if (k == "--push-batch") a.push_batch = std::stoul(v);
    else if (k == "--ready-file") a.ready_file = v;
    else if (k == "--stats-file") a.stats_file = v;
    else return false;
  }
  return !a.root.empty() && !a.token.empty() && argc % 2 == 1 && a.clusters > 0 && a.push_batch > 0;
}

// Waits up to `ms` for a signal of `set` (blocked in every thread); answers it, or 0 on timeout.
int WaitSignal(const sigset_t& set, long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1'000'000};
  for (;;) {
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig > 0) return sig;
    if (errno != EINTR) return 0;
  }
}

struct PushTotals {
  std::atomic<size_t> pushes{0}, pushed{0}, failed{0};
  double seconds = 0;
};

// One thread per stand-in, pushing back to back until the deadline.
void PushPhase(std::vector<std::unique_ptr<oak::bench::StandIn>>& stand_ins, const Args& a, PushTotals& t) {
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.push_seconds));
  std::vector<std::thread> threads;
  for (auto& s : stand_ins) {
    threads.emplace_back([&, s = s.get()] {
      while (Clock::now() < deadline) {
        auto [code, n] = s->Push(a.push_batch);
        if (n == 0) return;  // holds nothing
        ++t.pushes;
        if (code == 200) t.pushed += n;
        else ++t.failed;
      }
    });
  }
  for (auto& th : threads) th.join();
  t.seconds = std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!Parse(argc, argv, a)) {
    std::fprintf(stderr,
                 "usage: %s --root URL --token JOIN_TOKEN [--name N] [--clusters K] [--push-seconds S] "
                 "[--push-batch B] [--ready-file F] [--stats-file F]\n",
                 argv[0]);
    return 2;
  }
  // Block the signals before any thread starts, so that only sigtimedwait sees them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  boost::asio::io_context io;
  std::vector<std::unique_ptr<oak::bench::StandIn>> stand_ins;
  for (int i = 0; i < a.clusters; ++i) {
    auto s = std::make_unique<oak::bench::StandIn>(io, a.root, a.token, i == 0 ? a.name : a.name + std::to_string(i));
    if (auto st = s->Listen(); !st.ok()) {
      std::fprintf(stderr, "fake cluster: listen: %s\n", st.message().c_str());
      return 1;
    }
    stand_ins.push_back(std::move(s));
  }
  auto guard = boost::asio::make_work_guard(io);
  std::thread server([&] { io.run(); });
  auto stop_server = [&] {
    io.stop();
    server.join();
  };

  std::string ids;
  for (auto& s : stand_ins) {
    for (;;) {
      auto st = s->Register();
      if (st.ok()) break;
      std::fprintf(stderr, "fake cluster: register: %s (retrying)\n", st.message().c_str());
      int sig = WaitSignal(sigs, 500);
      if (sig == SIGTERM || sig == SIGINT) {
        stop_server();
        return 1;
      }
    }
    ids += s->id() + "\n";
  }
  std::fprintf(stderr, "fake cluster: %d registered\n", a.clusters);
  if (!a.ready_file.empty()) (void)oak::WriteFileAtomic(a.ready_file, ids, 0644);

  std::atomic<size_t> heartbeats{0}, failed{0};
  PushTotals push;
  std::thread pusher;
  auto stats = [&] {
    size_t received = 0, held = 0, reported = 0;
    for (auto& s : stand_ins) {
      received += s->received();
      held += s->held();
      reported += s->reported();
    }
    char line[256];
    std::snprintf(line, sizeof line,
                  "received=%zu held=%zu reported=%zu heartbeats=%zu failed_heartbeats=%zu pushes=%zu pushed=%zu "
                  "failed_pushes=%zu push_s=%.3f\n",
                  received, held, reported, heartbeats.load(), failed.load(), push.pushes.load(),
                  push.pushed.load(), push.failed.load(), push.seconds);
    return std::string(line);
  };
  auto next = Clock::now();
  for (;;) {
    next += std::chrono::seconds(1);
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now());
    int sig = WaitSignal(sigs, std::max<long>(0, wait.count()));
    if (sig == SIGTERM || sig == SIGINT) break;
    if (sig == SIGUSR1) {
      if (!pusher.joinable()) {
        pusher = std::thread([&] {
          PushPhase(stand_ins, a, push);
          if (!a.stats_file.empty()) (void)oak::WriteFileAtomic(a.stats_file, stats(), 0644);
        });
      }
      next -= std::chrono::seconds(1);  // keep the heartbeat schedule
      continue;
    }
    for (auto& s : stand_ins) {
      ++heartbeats;
      if (unsigned code = s->Heartbeat(); code != 200) {
        ++failed;
        std::fprintf(stderr, "fake cluster: heartbeat answered %u\n", code);
      }
    }
    if (!a.stats_file.empty()) (void)oak::WriteFileAtomic(a.stats_file, stats(), 0644);
  }
  if (pusher.joinable()) pusher.join();
  std::printf("%s", stats().c_str());
  stop_server();
  return 0;
}

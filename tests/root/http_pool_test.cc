// HttpPool against a small HTTP server that counts the connections it accepts.
#include "common/http_pool.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "root/counting_server.h"
#include "support/process.h"

namespace oak {
namespace {

namespace asio = boost::asio;
using testing::CountingServer;

ClientRequest Get(std::string target, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  ClientRequest r;
  r.target = std::move(target);
  r.timeout = timeout;
  return r;
}

// Starts `n` requests at once; answers how many came back 200 with their own target.
int FetchConcurrently(asio::io_context& io, HttpPool& pool, const Url& url, int n) {
  int ok = 0, done = 0;
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          auto r = co_await pool.Fetch(url, Get("/r" + std::to_string(i)));
          if (r.ok() && r->status == 200 && r->body == "/r" + std::to_string(i)) ++ok;
          ++done;
        },
        asio::detached);
  }
  EXPECT_TRUE(testing::PumpUntil(io, [&] { return done == n; }));
  return ok;
}

TEST(HttpPoolTest, ManyRequestsShareAFewConnections) {
  asio::io_context io;
  CountingServer server(io);
  HttpPool pool(io.get_executor(), {.max_per_host = 4});
  EXPECT_EQ(FetchConcurrently(io, pool, server.url(), 500), 500);
  EXPECT_EQ(server.requests, 500);
  EXPECT_LE(server.connections, 4) << "HttpFetch would have opened one connection per request";
  EXPECT_EQ(pool.connections_opened(), static_cast<uint64_t>(server.connections));
  EXPECT_LE(server.max_concurrent, 4);
  // They stay open for the next requests.
  EXPECT_EQ(pool.idle_connections(), static_cast<size_t>(server.connections));
  EXPECT_EQ(FetchConcurrently(io, pool, server.url(), 100), 100);
  EXPECT_LE(server.connections, 4);
  pool.CloseIdle();
  EXPECT_EQ(pool.open_connections(), 0u);
}

TEST(HttpPoolTest, AConnectionThePeerClosedIsReplacedWithoutLosingTheRequest) {
  asio::io_context io;
  CountingServer server(io, /*close_after=*/1);  // every connection serves one request, silently
  HttpPool pool(io.get_executor(), {.max_per_host = 1});
  for (int i = 0; i < 5; ++i) {
    bool done = false;
    Result<ClientResponse> r;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          r = co_await pool.Fetch(server.url(), Get("/x" + std::to_string(i)));
          done = true;
        },
        asio::detached);
    ASSERT_TRUE(testing::PumpUntil(io, [&] { return done; }));
    ASSERT_TRUE(r.ok()) << i << ": " << r.status().message();
    EXPECT_EQ(r->body, "/x" + std::to_string(i));
  }
  EXPECT_EQ(server.requests, 5) << "each request reached the server once";
  EXPECT_EQ(server.connections, 5);
}

TEST(HttpPoolTest, WaitingForAConnectionCountsAgainstTheTimeout) {
  asio::io_context io;
  CountingServer server(io, 0, std::chrono::milliseconds(300));
  HttpPool pool(io.get_executor(), {.max_per_host = 1});
  Result<ClientResponse> slow, impatient;
  int done = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        slow = co_await pool.Fetch(server.url(), Get("/slow"));
        ++done;
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        impatient = co_await pool.Fetch(server.url(), Get("/impatient", std::chrono::milliseconds(100)));
        ++done;
      },
      asio::detached);
  ASSERT_TRUE(testing::PumpUntil(io, [&] { return done == 2; }));
  ASSERT_TRUE(slow.ok()) << slow.status().message();
  EXPECT_EQ(slow->body, "/slow");
  ASSERT_FALSE(impatient.ok());
  EXPECT_EQ(impatient.status().code(), Code::kUnavailable);
  EXPECT_EQ(server.requests, 1) << "the impatient request never got a connection";
}

TEST(HttpPoolTest, RefusedConnectionIsUnavailable) {
  asio::io_context io;
  HttpPool pool(io.get_executor());
  Result<ClientResponse> r;
  bool done = false;
  auto url = *ParseUrl("http://127.0.0.1:" + std::to_string(testing::FreePort()));
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        r = co_await pool.Fetch(url, Get("/"));
        done = true;
      },
      asio::detached);
  ASSERT_TRUE(testing::PumpUntil(io, [&] { return done; }));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(pool.open_connections(), 0u) << "a failed connect gives its slot back";
}

}  // namespace
}  // namespace oak

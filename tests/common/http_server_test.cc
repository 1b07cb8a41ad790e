// The HTTP server on a real loopback socket: limits, errors, CORS, keep-alive.
#include "common/http_server.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "common/http_client.h"
#include "support/process.h"

namespace oak {
namespace {

namespace asio = boost::asio;

class ServerFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Add(http::verb::get, "/hello", [](HttpRequest&) { return HttpResponse::Json(200, {{"hi", true}}); });
    router_.Add(http::verb::post, "/echo", [](HttpRequest& r) { return HttpResponse::Text(200, r.body(), "text/plain"); });
    router_.Add(http::verb::get, "/throw", [](HttpRequest&) -> HttpResponse { throw std::runtime_error("boom"); });
    HttpServerOptions opts;
    opts.body_limit = 1024;
    opts.read_timeout = std::chrono::milliseconds(500);
    opts.cors_origins = {"http://dash.example"};
    server_ = std::make_unique<HttpServer>(io_, router_, opts);
    server_->SetObserver([this](const std::string& route, std::string_view, unsigned status, double) {
      std::lock_guard lock(mu_);
      observed_.emplace_back(route, status);
    });
    auto port = server_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok());
    port_ = *port;
    thread_ = std::thread([this] {
      auto guard = asio::make_work_guard(io_);
      io_.run();
    });
  }
  void TearDown() override {
    io_.stop();
    thread_.join();
  }
  Result<ClientResponse> Fetch(http::verb m, std::string target, std::string body = "",
                               std::vector<std::pair<std::string, std::string>> headers = {}) {
    ClientRequest req;
    req.method = m;
    req.target = std::move(target);
    req.body = std::move(body);
    req.headers = std::move(headers);
    return HttpFetchSync(Url{"http", "127.0.0.1", port_, ""}, std::move(req));
  }
  // Sends raw bytes and reads until the server closes.
  std::string Raw(const std::string& bytes) {
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    s.connect({asio::ip::make_address("127.0.0.1"), port_});
    asio::write(s, asio::buffer(bytes));
    std::string out;
    boost::system::error_code ec;
    char buf[4096];
    for (;;) {
      size_t n = s.read_some(asio::buffer(buf), ec);
      if (ec) break;
      out.append(buf, n);
    }
    return out;
  }

  asio::io_context io_;
  Router router_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::vector<std::pair<std::string, unsigned>> observed_;
};

TEST_F(ServerFixture, ServesJsonAndObservesTheRoute) {
  auto r = Fetch(http::verb::get, "/hello");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200u);
  EXPECT_EQ(nlohmann::json::parse(r->body)["hi"], true);
  // The observer runs once the answer is written, which may be after the client has read it.
  EXPECT_TRUE(testing::WaitFor([&] {
    std::lock_guard lock(mu_);
    return !observed_.empty() && observed_.back() == std::pair<std::string, unsigned>{"/hello", 200};
  }));
}

TEST_F(ServerFixture, OversizedBodyIs413Json) {
  auto r = Fetch(http::verb::post, "/echo", std::string(10 * 1024 * 1024, 'x'));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 413u);
  EXPECT_NE(nlohmann::json::parse(r->body)["message"].get<std::string>().find("larger than"), std::string::npos);
  // The server is still there.
  EXPECT_EQ(Fetch(http::verb::get, "/hello")->status, 200u);
}

TEST_F(ServerFixture, UnknownRouteAndWrongMethodAreJson) {
  auto r = Fetch(http::verb::get, "/nope");
  EXPECT_EQ(r->status, 404u);
  EXPECT_TRUE(nlohmann::json::parse(r->body).contains("message"));
  r = Fetch(http::verb::delete_, "/hello");
  EXPECT_EQ(r->status, 405u);
  EXPECT_TRUE(nlohmann::json::parse(r->body).contains("message"));
}

TEST_F(ServerFixture, HandlerExceptionCostsOneRequestOnly) {
  EXPECT_EQ(Fetch(http::verb::get, "/throw")->status, 500u);
  EXPECT_EQ(Fetch(http::verb::get, "/hello")->status, 200u);
}

TEST_F(ServerFixture, GarbageIs400) {
  std::string out = Raw("NOT AN HTTP REQUEST\r\n\r\n");
  EXPECT_NE(out.find("400"), std::string::npos) << out;
  EXPECT_NE(out.find("\"message\""), std::string::npos) << out;
}

TEST_F(ServerFixture, IdleConnectionIsClosedAfterTheReadTimeout) {
  auto start = std::chrono::steady_clock::now();
  std::string out = Raw("GET /hello HTTP/1.1\r\nHost: x\r\n");  // header never finished
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(out.empty()) << out;
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(ServerFixture, KeepAliveServesSeveralRequestsOnOneConnection) {
  std::string out = Raw("GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  size_t first = out.find("HTTP/1.1 200");
  ASSERT_NE(first, std::string::npos);
  EXPECT_NE(out.find("HTTP/1.1 200", first + 1), std::string::npos) << out;
}

TEST_F(ServerFixture, CorsPreflightAndAllowedOrigin) {
  auto r = Fetch(http::verb::options, "/hello", "",
                 {{"Origin", "http://dash.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(r->status, 204u);
  std::string raw = Raw("GET /hello HTTP/1.1\r\nHost: x\r\nOrigin: http://dash.example\r\nConnection: close\r\n\r\n");
  EXPECT_NE(raw.find("Access-Control-Allow-Origin: http://dash.example"), std::string::npos) << raw;
  raw = Raw("GET /hello HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(raw.find("Access-Control-Allow-Origin"), std::string::npos) << raw;
  raw = Raw("OPTIONS /hello HTTP/1.1\r\nHost: x\r\nOrigin: http://dash.example\r\n"
            "Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n");
  EXPECT_NE(raw.find("Access-Control-Allow-Headers: Authorization, Content-Type"), std::string::npos) << raw;
}

TEST(HttpClientTest, RefusedConnectionIsUnavailable) {
  // Port 1 on loopback: nothing listens there.
  auto r = HttpFetchSync(Url{"http", "127.0.0.1", 1, ""}, ClientRequest{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
}

TEST(ParseUrlTest, AcceptsHttpWithPortAndPath) {
  auto u = ParseUrl("http://127.0.0.1:10000/base/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 10000);
  EXPECT_EQ(u->base_path, "/base");
  EXPECT_FALSE(ParseUrl("https://x").ok());
  EXPECT_FALSE(ParseUrl("not a url").ok());
  EXPECT_EQ(ParseUrl("http://localhost")->port, 80);
}

}  // namespace
}  // namespace oak

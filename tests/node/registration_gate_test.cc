#include "node/registration_gate.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

namespace oak::node {
namespace {

TEST(RegistrationGateTest, RunsAtMostMaxAtOnceInArrivalOrder) {
  boost::asio::io_context io;
  RegistrationGate gate(io.get_executor(), 2);
  std::vector<int> started;
  for (int i = 0; i < 5; ++i) gate.Acquire([&started, i] { started.push_back(i); });
  EXPECT_TRUE(started.empty()) << "posted, never run inline";
  io.run();
  io.restart();
  EXPECT_EQ(started, (std::vector<int>{0, 1}));
  EXPECT_EQ(gate.waiting(), 3u);
  gate.Release();
  io.run();
  io.restart();
  EXPECT_EQ(started, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(gate.in_flight(), 2);
  for (int i = 0; i < 4; ++i) gate.Release();
  io.run();
  EXPECT_EQ(started.size(), 5u);
  EXPECT_EQ(gate.in_flight(), 0);
  EXPECT_EQ(gate.waiting(), 0u);
}

}  // namespace
}  // namespace oak::node

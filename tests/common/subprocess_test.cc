#include "common/subprocess.h"

#include <gtest/gtest.h>

namespace oak {
namespace {

TEST(SubprocessTest, CollectsOutputAndExitCode) {
  auto r = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_FALSE(r->ok());
  EXPECT_EQ(r->ErrorLine(), "err");
}

TEST(SubprocessTest, FeedsStdinLargerThanAPipe) {
  std::string big(1 << 20, 'x');
  auto r = RunCommand({"wc", "-c"}, {.stdin_data = big});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::stoul(r->out), big.size());
}

TEST(SubprocessTest, KillsAtTheDeadline) {
  auto start = std::chrono::steady_clock::now();
  auto r = RunCommand({"sleep", "30"}, {.timeout = std::chrono::milliseconds(200)});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->signal, SIGKILL);
  EXPECT_EQ(r->ErrorLine(), "timed out");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(SubprocessTest, DoesNotWaitForADaemonHoldingThePipes) {
  auto start = std::chrono::steady_clock::now();
  auto r = RunCommand({"sh", "-c", "sleep 5 & echo started"}, {.timeout = std::chrono::seconds(10)});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok());
  EXPECT_EQ(r->out, "started\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST(SubprocessTest, MissingProgramIsNotFound) {
  auto r = RunCommand({"oak-no-such-tool-xyz"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  auto checked = RunChecked({"sh", "-c", "echo 'bad thing' >&2; exit 1"});
  ASSERT_FALSE(checked.ok());
  EXPECT_EQ(checked.status().message(), "sh: bad thing");
}

TEST(SubprocessTest, EnvironmentAndSignals) {
  auto r = RunCommand({"sh", "-c", "echo $OAK_SUBPROCESS_TEST; kill -TERM $$"}, {.env = {"OAK_SUBPROCESS_TEST=yes"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "yes\n");
  EXPECT_EQ(r->signal, SIGTERM);
  EXPECT_EQ(r->ErrorLine(), "yes");
}

TEST(SubprocessTest, CapsOutput) {
  auto r = RunCommand({"sh", "-c", "head -c 100000 /dev/zero"}, {.max_output = 1000});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok());
  EXPECT_EQ(r->out.size(), 1000u);
}

}  // namespace
}  // namespace oak

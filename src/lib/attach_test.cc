// Attaching to the engine and detaching: the handshake, and what a person
// is told when it fails.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include <gmock/gmock.h>

#include "lib/attach.h"
#include "lib/client_testing.h"
#include "lib/shardnet.hpp"

namespace sn::testing {
namespace {

using ::testing::HasSubstr;

TEST_F(ClientTest, AttachMapsTheRegionAndDetachHangsUp) {
  attach();
  EXPECT_EQ(client().shards(), 2u);
  EXPECT_EQ(client().host(), 3u);
  EXPECT_EQ(client().failed(), 0);
  sn_detach(h_);
  h_ = nullptr;
  EXPECT_TRUE(fake().library_hung_up());
}

TEST(Attach, NoEngineSaysWhatToDo) {
  char why[256] = {};
  EXPECT_EQ(sn_attach("/tmp/sn-lib-test-no-such-dir/control.sock", why, sizeof(why)), nullptr);
  EXPECT_STREQ(why,
               "no engine at /tmp/sn-lib-test-no-such-dir/control.sock; is `shardnet run` "
               "running?");
}

TEST(Attach, WhyIsTruncatedAndTerminated) {
  char why[8];
  std::memset(why, 'x', sizeof(why));
  EXPECT_EQ(sn_attach("/tmp/sn-lib-test-no-such-dir/control.sock", why, sizeof(why)), nullptr);
  EXPECT_STREQ(why, "no engi");
  EXPECT_EQ(sn_attach("/tmp/sn-lib-test-no-such-dir/control.sock", nullptr, 0), nullptr);
}

TEST(Attach, RefusalIsPassedOn) {
  FakeEngine fake({.refuse = "error: 64 hosts are attached already"});
  std::string why;
  Host h = Host::attach(fake.path().c_str(), &why);
  EXPECT_FALSE(h);
  EXPECT_EQ(why,
            "the engine at " + fake.path() + " refused the attach: 64 hosts are attached already");
}

// A control socket nobody may connect to. Root passes any permission
// check, so as root the attach runs in a child that became `nobody` first.
TEST(Attach, NoPermissionSaysWhomToAsk) {
  char dir_tmpl[] = "/tmp/sn-lib-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_tmpl), nullptr);
  const std::string dir = dir_tmpl;
  const std::string path = dir + "/control.sock";
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
  Fd server(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(::bind(server.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(server.get(), 1), 0);
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);

  std::string why;
  if (::geteuid() != 0) {
    char buf[256] = {};
    EXPECT_EQ(sn_attach(path.c_str(), buf, sizeof(buf)), nullptr);
    why = buf;
  } else {
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    std::fflush(nullptr);  // or the child's exit prints the parent's buffered output again
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {  // no other thread runs in this test: the child may do anything
      char buf[256] = "SKIP";
      if (::setgid(65534) == 0 && ::setuid(65534) == 0)
        (void)sn_attach(path.c_str(), buf, sizeof(buf));
      (void)!::write(p[1], buf, std::strlen(buf));
      ::_exit(0);
    }
    ::close(p[1]);
    char buf[256] = {};
    (void)!::read(p[0], buf, sizeof(buf) - 1);
    ::close(p[0]);
    int status;
    ::waitpid(child, &status, 0);
    why = buf;
  }
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
  if (why == "SKIP") GTEST_SKIP() << "root, and cannot become nobody to be refused";
  EXPECT_EQ(why, "no permission on " + path +
                     ": ask the engine's owner, or run as a user in the socket's group");
}

TEST(Attach, DefaultPathFollowsTheEngine) {
  const std::string path = default_control_path();
  if (::geteuid() == 0) {
    EXPECT_EQ(path, "/run/shardnet/shardnet.sock");
  } else {
    EXPECT_THAT(path, HasSubstr("shardnet-shardnet.sock"));
  }
}

TEST(Attach, CxxHostOwnsTheAttachment) {
  FakeEngine fake;
  std::string why;
  {
    Host h = Host::attach(fake.path().c_str(), &why);
    ASSERT_TRUE(h) << why;
    Host moved = std::move(h);
    EXPECT_FALSE(h);
    EXPECT_TRUE(moved);
  }
  EXPECT_TRUE(fake.library_hung_up());
}

}  // namespace
}  // namespace sn::testing

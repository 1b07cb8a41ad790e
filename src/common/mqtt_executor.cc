// MqttDriver::kExecutor: libmosquitto without its network thread. The owner's executor watches the
// socket and calls mosquitto_loop_read / _write / _misc; reconnects are an asio timer. Everything
// here runs on the owner's thread.
//
// Two properties of the environment shape this file:
//   - asio's epoll reactor reports readiness edges. Bytes that arrived while no read wait was armed
//     are never reported again, so before arming a read wait we look at FIONREAD, and before
//     waiting for writability we first try to write (libmosquitto queues without writing while it
//     runs a callback).
//   - mosquitto_new() creates a socket pair and libmosquitto writes one byte into it for every
//     packet it queues, to wake its network thread. Without that thread nobody reads it: each
//     client would pin about 210 KB of kernel memory once the pair's buffer is full (measured with
//     1,000 pairs), and every publish pays for a socket write. The pair is not exposed, so we find
//     it: socketpair() takes the lowest free descriptor numbers, which we look up just before
//     mosquitto_new(); if they then hold a connected pair of unnamed AF_UNIX stream sockets, both
//     numbers are pointed at /dev/null. If only the read end is recognised, it is drained once a
//     second instead.
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "common/mqtt_state.h"

namespace oak::mqtt_internal {

namespace asio = boost::asio;
using State = MqttClient::State;
using namespace std::chrono_literals;

namespace {

void WatchSocket(State& st);

bool SocketOpen(const State& st) { return st.mosq && mosquitto_socket(st.mosq) >= 0; }

// Wraps `fn(State&)` for an asio completion: nothing runs once the client or this socket is gone.
template <typename Fn>
auto OnSocket(State& st, Fn fn) {
  return [self = st.shared_from_this(), gen = st.io_gen, fn](const boost::system::error_code& ec) {
    if (ec || !self->alive || !self->mosq || self->io_gen != gen) return;
    fn(*self);
  };
}

void ScheduleReconnect(State& st) {
  auto delay = st.reconnect_delay;
  st.reconnect_delay = std::min(st.reconnect_delay * 2, st.reconnect_max);
  st.reconnect_timer->expires_after(delay);
  st.reconnect_timer->async_wait([self = st.shared_from_this()](const boost::system::error_code& ec) {
    if (ec || !self->alive || !self->mosq || self->closing) return;
    if (mosquitto_reconnect_async(self->mosq) == MOSQ_ERR_SUCCESS) WatchSocket(*self);
    else ScheduleReconnect(*self);
  });
}

// libmosquitto closed its socket (connection lost, refused, keep-alive missed): drop our watch and
// come back after the back-off, which restarts from the minimum once a session had been up.
void OnSocketGone(State& st) {
  st.sock.reset();
  ++st.io_gen;
  st.reading = st.writing = false;
  if (st.closing) return;
  if (st.session_up) st.reconnect_delay = st.reconnect_min;
  st.session_up = false;
  ScheduleReconnect(st);
}

void WatchSocket(State& st) {
  int fd = mosquitto_socket(st.mosq);
  int mine = fd >= 0 ? ::fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
  auto sock = std::make_unique<asio::posix::stream_descriptor>(st.ex);
  boost::system::error_code ec;
  if (mine >= 0) sock->assign(mine, ec);
  if (mine < 0 || ec) {
    if (mine >= 0 && ec) ::close(mine);
    spdlog::warn("msg=\"mqtt: cannot watch the socket\" error=\"{}\"", ec ? ec.message() : std::strerror(errno));
    return ScheduleReconnect(st);
  }
  st.sock = std::move(sock);
  ++st.io_gen;
  st.reading = st.writing = false;
  st.session_up = false;
  PumpOnExecutor(st);
}

void DrainWakePair(const State& st) {
  if (st.wake_fd < 0) return;
  char buf[512];
  while (::read(st.wake_fd, buf, sizeof buf) == static_cast<ssize_t>(sizeof buf)) {
  }
}

void ArmMisc(State& st) {
  st.misc_timer->expires_after(1s);
  st.misc_timer->async_wait([self = st.shared_from_this()](const boost::system::error_code& ec) {
    if (ec || !self->alive || !self->mosq) return;
    DrainWakePair(*self);
    if (self->sock && SocketOpen(*self)) {
      mosquitto_loop_misc(self->mosq);  // keep-alive: PINGREQ, or close after a missed PINGRESP
      PumpOnExecutor(*self);
    }
    ArmMisc(*self);
  });
}

}  // namespace

WakePairGuess GuessWakePair() {
  int a = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int b = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  WakePairGuess g{a, b};
  if (a >= 0) ::close(a);
  if (b >= 0) ::close(b);
  if (a < 0 || b < 0) return {};
  return g;
}

bool SilenceWakePair(WakePairGuess g) {
  if (ConfirmWakeFd(g.first) < 0 || ConfirmWakeFd(g.second) < 0) return false;
  // Connected to each other, and fresh: one byte sent on one end is the only byte on the other.
  const char probe = 'w';
  char got = 0;
  if (::send(g.second, &probe, 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) return false;
  if (::recv(g.first, &got, 1, MSG_DONTWAIT) != 1 || got != probe) return false;
  int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull < 0) return false;
  // The write end (socketpair's second descriptor, libmosquitto's sockpairW) goes first: were the
  // second replacement to fail, libmosquitto would still write to /dev/null, never into a socket
  // whose peer is gone (EPIPE, and a SIGPIPE that ends the process).
  const bool ok = ::dup3(devnull, g.second, O_CLOEXEC) == g.second && ::dup3(devnull, g.first, O_CLOEXEC) == g.first;
  ::close(devnull);
  return ok;
}

int ConfirmWakeFd(int guess) {
  if (guess < 0) return -1;
  int domain = 0, type = 0;
  socklen_t len = sizeof domain;
  if (::getsockopt(guess, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_UNIX) return -1;
  len = sizeof type;
  if (::getsockopt(guess, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) return -1;
  sockaddr_un addr{};
  len = sizeof addr;
  if (::getsockname(guess, reinterpret_cast<sockaddr*>(&addr), &len) != 0 || len != sizeof(sa_family_t)) return -1;
  return guess;
}

Status StartOnExecutor(State& st, const MqttOptions& o) {
  st.reconnect_min = std::chrono::seconds(o.reconnect_min_s);
  st.reconnect_max = std::chrono::seconds(o.reconnect_max_s);
  st.reconnect_delay = st.reconnect_min;
  st.misc_timer = std::make_unique<asio::steady_timer>(st.ex);
  st.reconnect_timer = std::make_unique<asio::steady_timer>(st.ex);
  int rc = mosquitto_connect_async(st.mosq, o.host.c_str(), o.port, o.keepalive_s);
  if (rc == MOSQ_ERR_SUCCESS) {
    WatchSocket(st);
  } else if (rc == MOSQ_ERR_ERRNO || rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST) {
    ScheduleReconnect(st);  // the broker is down: retried like a lost connection
  } else {
    st.misc_timer.reset();
    st.reconnect_timer.reset();
    return FromMosq(rc, "mqtt: connect to " + o.host + ":" + std::to_string(o.port));
  }
  ArmMisc(st);
  return Status::Ok();
}

void PumpOnExecutor(State& st) {
  if (!st.mosq || !st.sock) return;  // no socket: a reconnect is pending and will watch the new one
  if (!SocketOpen(st)) return OnSocketGone(st);
  if (!st.writing && mosquitto_want_write(st.mosq)) {
    mosquitto_loop_write(st.mosq, 1);
    if (!SocketOpen(st)) return OnSocketGone(st);
    if (mosquitto_want_write(st.mosq)) {
      st.writing = true;
      st.sock->async_wait(asio::posix::descriptor_base::wait_write, OnSocket(st, [](State& s) {
        s.writing = false;
        mosquitto_loop_write(s.mosq, 1);
        PumpOnExecutor(s);
      }));
    }
  }
  if (!st.reading) {
    st.reading = true;
    auto on_readable = OnSocket(st, [](State& s) {
      s.reading = false;
      mosquitto_loop_read(s.mosq, 1);
      PumpOnExecutor(s);
    });
    int pending = 0;
    if (::ioctl(st.sock->native_handle(), FIONREAD, &pending) == 0 && pending > 0) {
      asio::post(st.ex, [on_readable] { on_readable({}); });
    } else {
      st.sock->async_wait(asio::posix::descriptor_base::wait_read, std::move(on_readable));
    }
  }
}

void StopOnExecutor(State& st) {
  st.misc_timer.reset();  // destroying a timer cancels its wait; the handler sees the error
  st.reconnect_timer.reset();
  if (st.sock && SocketOpen(st)) {
    mosquitto_disconnect(st.mosq);  // queues DISCONNECT and writes what the socket takes at once
    // What the socket did not take yet (a burst just before stopping) gets half a second, as long
    // as the broker keeps reading: a 200 ms stall ends it (a process stopping a thousand sessions
    // must not wait half a second for each when the broker hangs; a broker on a busy machine
    // pauses for tens of ms, and a flush cut then sends the will of a node that stopped cleanly).
    auto deadline = std::chrono::steady_clock::now() + 500ms;
    while (SocketOpen(st) && mosquitto_want_write(st.mosq)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{mosquitto_socket(st.mosq), POLLOUT, 0};
      int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 200)));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      mosquitto_loop_write(st.mosq, 1);
    }
    // libmosquitto closes its descriptor once DISCONNECT is written, but ours (a duplicate) keeps
    // the connection, and closing a socket with unread input (the broker's PUBACKs for that
    // burst) makes the kernel send a reset; a broker that sees the reset before it read our
    // DISCONNECT fires the will. So: end our side, and read (and drop) what arrives until the
    // broker closes, within the same deadline and at most 200 ms.
    const bool sent = !SocketOpen(st) || !mosquitto_want_write(st.mosq);
    const int fd = st.sock ? st.sock->native_handle() : -1;
    if (sent && fd >= 0 && ::shutdown(fd, SHUT_WR) == 0) {
      const auto drain_until = std::min(deadline, std::chrono::steady_clock::now() + 200ms);
      char scratch[16384];
      for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(drain_until - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{fd, POLLIN, 0};
        int n = ::poll(&p, 1, static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        ssize_t got = ::recv(fd, scratch, sizeof scratch, MSG_DONTWAIT);
        if (got == 0) break;  // the broker closed: nothing unread remains
        if (got < 0 && errno != EAGAIN && errno != EINTR) break;
      }
    }
  }
  st.sock.reset();
  ++st.io_gen;
  st.reading = st.writing = false;
}

}  // namespace oak::mqtt_internal

// A listener with a short handshake deadline, a pump that keeps accepting,
// and a well-behaved client that transfers 32 MiB while a RawPeer misbehaves
// on the same listener. Each test checks three things: the raw socket gets
// closed, the listener (or channel) names the bad peer, the good transfer
// completes byte for byte.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>

#include "raw_peer.h"
#include "test_support.h"

namespace farlink::test {

class BadInput : public ::testing::Test {
 protected:
  static constexpr std::chrono::milliseconds kHandshakeDeadline{500};
  static constexpr size_t kGoodSize = 32u << 20;

  void start(std::string psk = "", std::chrono::milliseconds handshake_deadline = kHandshakeDeadline) {
    psk_ = std::move(psk);
    ChannelOptions o;
    o.connect_timeout = handshake_deadline;
    o.psk = psk_;
    auto l = Listener::listen("tcp://127.0.0.1:0", o);
    ASSERT_TRUE(l.isOk()) << l.status().toString();
    listener_ = std::move(l).value();
    pump_ = std::make_unique<ListenerPump>(listener_.get());
  }

  void TearDown() override {
    if (good_client_.joinable()) good_client_.join();
    if (good_server_.joinable()) good_server_.join();
    if (pump_) pump_->stop();
  }

  std::unique_ptr<RawPeer> rawPeer() {
    auto p = std::make_unique<RawPeer>();
    EXPECT_TRUE(p->connect(listener_->port())) << p->error();
    return p;
  }

  // The good client: 2 lanes, 32 MiB up, an 8-byte answer down.
  void startGoodTransfer() {
    good_client_ = std::thread([this] {
      ChannelOptions o;
      o.lanes = 2;
      o.psk = psk_;
      auto c = Channel::connect(uriFor("tcp", listener_->port()), o);
      ASSERT_TRUE(c.isOk()) << "good client: " << c.status().toString();
      expectSend(**c, kGoodSize, 1, 7);
      expectRecv(**c, 8, 2, 8, 8);
      EXPECT_TRUE((*c)->close(kShortWait).isOk());
    });
    good_server_ = std::thread([this] {
      auto s = pump_->next(kShortWait * 2);
      ASSERT_NE(s, nullptr) << "the good client's channel was never accepted";
      expectRecv(*s, kGoodSize, 1, kGoodSize, 7);
      expectSend(*s, 8, 2, 8);
    });
  }

  void finishGoodTransfer() {
    good_client_.join();
    good_server_.join();
    EXPECT_TRUE(pump_->acceptErrors().empty()) << pump_->acceptErrors()[0].toString();
  }

  // The listener hangs up on `raw` within a bound; if it answered first with
  // a WELCOME, that WELCOME must not say OK (unless `ok_welcome_allowed`: a
  // lane whose own HELLO was fine, dropped later for its session's sake).
  void expectDropped(RawPeer& raw, std::chrono::milliseconds bound = kShortWait,
                     bool ok_welcome_allowed = false) {
    std::vector<uint8_t> got;
    EXPECT_TRUE(raw.waitClosed(bound, &got))
        << "listener kept " << raw.name() << " open for " << bound.count() << " ms";
    if (got.size() >= wire::kWelcomeFixedSize && !ok_welcome_allowed) {
      got.resize(got.size() + 8, 0);
      wire::Welcome w;
      size_t reason_len = 0;
      Status s = wire::decodeWelcomeFixed(
          std::span<const uint8_t, wire::kWelcomeFixedSize>(got.data(), wire::kWelcomeFixedSize),
          &w, &reason_len);
      ASSERT_TRUE(s.isOk()) << "listener answered with a malformed WELCOME: " << s.toString();
      EXPECT_NE(w.status, wire::HandshakeStatus::kOk) << "listener said OK, then hung up";
    }
  }

  // A rejection whose message names `raw` (its 127.0.0.1:port) appears.
  Status expectRejectionNaming(const RawPeer& raw) {
    const std::string name = raw.name();
    Status s = pump_->waitRejection(
        [&](const Status& r) { return r.message().find(name) != std::string::npos; });
    EXPECT_FALSE(s.isOk()) << "no rejection names " << name << "; seen: " << seen();
    return s;
  }

  void expectRejected(const RawPeer& raw) { (void)expectRejectionNaming(raw); }

  std::string seen() {
    std::string out;
    for (const Status& s : pump_->allRejections()) out += "\n  " + s.toString();
    return out.empty() ? " (none)" : out;
  }

  std::string psk_;
  std::unique_ptr<Listener> listener_;
  std::unique_ptr<ListenerPump> pump_;
  std::thread good_client_, good_server_;
};

}  // namespace farlink::test

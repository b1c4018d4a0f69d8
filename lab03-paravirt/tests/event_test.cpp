// Exercise e5: event channels, the shared info page and the upcall; the one-shot timer and
// blocking, which wake the guest with events.

#include <gtest/gtest.h>

#include "lab03-paravirt/src/errors.hpp"
#include "lab03-paravirt/tests/pv_fixture.hpp"

namespace hvlab::lab03 {
namespace {

using testing::PvFixture;
constexpr std::uint32_t kShared = 0x4000, kArg = 0x2000;

struct EventFixture : PvFixture {
  EventFixture() { EXPECT_TRUE(domain.attach_shared(GuestPhysAddr(kShared))); }
  hvlab_pv_shared_info shared() const { return get<hvlab_pv_shared_info>(kShared); }
  int bind_virq(std::uint32_t virq, std::uint32_t* port) {
    put(kArg, hvlab_pv_evtchn_bind_virq{virq, 0});
    int rc = call(HVLAB_PV_event_channel_op, HVLAB_PV_EVTCHNOP_bind_virq, kArg);
    *port = get<hvlab_pv_evtchn_bind_virq>(kArg).port;
    return rc;
  }
  int bind_ipi(std::uint32_t* port) {
    int rc = call(HVLAB_PV_event_channel_op, HVLAB_PV_EVTCHNOP_bind_ipi, kArg);
    *port = get<std::uint32_t>(kArg);
    return rc;
  }
  int port_op(std::uint32_t cmd, std::uint32_t port) {
    put(kArg, hvlab_pv_evtchn_port{port});
    return call(HVLAB_PV_event_channel_op, cmd, kArg);
  }
};

TEST(E5Events, SendingOnAnIpiPortMarksItPendingAndAsksForAnUpcall) {
  EventFixture f;
  std::uint32_t port = 0;
  ASSERT_EQ(f.bind_ipi(&port), 0);
  EXPECT_GE(port, 1u) << "port 0 is never bound";
  ASSERT_EQ(f.port_op(HVLAB_PV_EVTCHNOP_send, port), 0);
  auto s = f.shared();
  EXPECT_TRUE(s.evtchn_pending[port / 32] & (1u << port % 32));
  EXPECT_TRUE(s.vcpu_info[0].evtchn_pending_sel & (1u << port / 32));
  EXPECT_EQ(s.vcpu_info[0].evtchn_upcall_pending, 1);
  EXPECT_EQ(f.domain.events.stats().notified, 1u);
  // A second send while pending changes nothing more.
  ASSERT_EQ(f.port_op(HVLAB_PV_EVTCHNOP_send, port), 0);
  EXPECT_EQ(f.domain.events.stats().notified, 1u);
}

TEST(E5Events, AMaskedPortWaitsForItsUnmask) {
  EventFixture f;
  std::uint32_t port = 0;
  ASSERT_EQ(f.bind_ipi(&port), 0);
  auto s = f.shared();
  s.evtchn_mask[port / 32] |= 1u << port % 32;  // the guest masks it: a store
  f.put(kShared, s);
  ASSERT_EQ(f.port_op(HVLAB_PV_EVTCHNOP_send, port), 0);
  s = f.shared();
  EXPECT_TRUE(s.evtchn_pending[port / 32] & (1u << port % 32));
  EXPECT_EQ(s.vcpu_info[0].evtchn_pending_sel, 0u);
  EXPECT_EQ(s.vcpu_info[0].evtchn_upcall_pending, 0) << "masked: no upcall";
  ASSERT_EQ(f.port_op(HVLAB_PV_EVTCHNOP_unmask, port), 0);
  s = f.shared();
  EXPECT_FALSE(s.evtchn_mask[port / 32] & (1u << port % 32));
  EXPECT_EQ(s.vcpu_info[0].evtchn_upcall_pending, 1) << "the event that waited arrives now";
}

TEST(E5Events, VirqsBindOnceAndOnlyTheMonitorRaisesThem) {
  EventFixture f;
  std::uint32_t port = 0, again = 0;
  ASSERT_EQ(f.bind_virq(HVLAB_PV_VIRQ_TIMER, &port), 0);
  EXPECT_EQ(f.bind_virq(HVLAB_PV_VIRQ_TIMER, &again), err(HVLAB_PV_EEXIST));
  EXPECT_EQ(f.bind_virq(HVLAB_PV_NR_VIRQS, &again), err(HVLAB_PV_EINVAL));
  EXPECT_EQ(f.port_op(HVLAB_PV_EVTCHNOP_send, port), err(HVLAB_PV_EINVAL));
  EXPECT_TRUE(f.domain.events.raise_virq(HVLAB_PV_VIRQ_TIMER));
  EXPECT_FALSE(f.domain.events.raise_virq(HVLAB_PV_VIRQ_DEBUG)) << "not bound";
  ASSERT_EQ(f.port_op(HVLAB_PV_EVTCHNOP_close, port), 0);
  EXPECT_EQ(f.domain.events.port_of_virq(HVLAB_PV_VIRQ_TIMER), 0u);
  EXPECT_EQ(f.port_op(HVLAB_PV_EVTCHNOP_close, port), err(HVLAB_PV_ESRCH));
  EXPECT_EQ(f.port_op(HVLAB_PV_EVTCHNOP_unmask, 0), err(HVLAB_PV_ESRCH));
  EXPECT_EQ(f.port_op(HVLAB_PV_EVTCHNOP_send, 5000), err(HVLAB_PV_ESRCH));
  EXPECT_EQ(f.port_op(77, 1), err(HVLAB_PV_EINVAL));
  EXPECT_EQ(f.invariants(), "");
}

TEST(E5Events, PortsRunOutCleanly) {
  EventFixture f;
  std::uint32_t port = 0;
  for (std::uint32_t i = 1; i < HVLAB_PV_NR_EVENT_CHANNELS; ++i) ASSERT_EQ(f.bind_ipi(&port), 0);
  EXPECT_EQ(f.bind_ipi(&port), err(HVLAB_PV_ENOSPC));
  EXPECT_EQ(f.domain.events.bound(), HVLAB_PV_NR_EVENT_CHANNELS - 1);
}

TEST(E5Events, TheUpcallIsDeliveredWhenPendingAndUnmasked) {
  EventFixture f;
  ASSERT_EQ(f.call(HVLAB_PV_set_callbacks, 0x09, 0x7000, 0, 0), 0);
  std::uint32_t port = 0;
  ASSERT_EQ(f.bind_ipi(&port), 0);
  EXPECT_FALSE(deliver_upcall(f.machine)) << "nothing pending";
  ASSERT_EQ(f.port_op(HVLAB_PV_EVTCHNOP_send, port), 0);
  EXPECT_FALSE(deliver_upcall(f.machine)) << "events start masked";
  f.domain.shared.set_upcall_mask(0);
  f.vcpu().eip = 0x1234;
  ASSERT_TRUE(deliver_upcall(f.machine));
  EXPECT_EQ(f.vcpu().eip, 0x7000u);
  EXPECT_EQ(f.get<std::uint32_t>(0x9000 - 12), 0x1234u) << "the interrupted EIP";
  EXPECT_TRUE(f.get<std::uint32_t>(0x9000 - 4) & x86::eflags::IF) << "saved IF: events were enabled";
  EXPECT_EQ(f.domain.shared.upcall_mask(), 1) << "masked while the callback runs";
  EXPECT_FALSE(deliver_upcall(f.machine)) << "no second upcall while masked";
  EXPECT_EQ(f.domain.upcalls, 1u);
}

TEST(E5Events, TheTimerRaisesVirqTimerAndBlockWaitsForIt) {
  EventFixture f;
  std::uint32_t port = 0;
  ASSERT_EQ(f.bind_virq(HVLAB_PV_VIRQ_TIMER, &port), 0);
  f.domain.publish_time(f.board, 1000);  // time starts
  ASSERT_EQ(f.call(HVLAB_PV_set_timer_op, 5'000'000, 0), 0);  // 5 ms
  EXPECT_EQ(f.call(HVLAB_PV_sched_op, HVLAB_PV_SCHEDOP_block, 0), 0);
  EXPECT_TRUE(f.domain.blocked);
  EXPECT_TRUE(f.vcpu().halted);
  EXPECT_EQ(f.domain.shared.upcall_mask(), 0) << "blocking enables events";
  f.domain.publish_time(f.board, 1000 + 4'000);  // 4 ms at 1 MHz: not yet
  EXPECT_EQ(f.shared().vcpu_info[0].evtchn_upcall_pending, 0);
  f.domain.publish_time(f.board, 1000 + 5'000);
  EXPECT_EQ(f.shared().vcpu_info[0].evtchn_upcall_pending, 1);
  EXPECT_EQ(f.domain.timer_deadline_ns, 0u) << "one-shot";
  // With an event pending, block returns at once.
  f.vcpu().halted = false;
  f.domain.blocked = false;
  EXPECT_EQ(f.call(HVLAB_PV_sched_op, HVLAB_PV_SCHEDOP_block, 0), 0);
  EXPECT_FALSE(f.domain.blocked);
  // A deadline in the past fires at once.
  f.put(kShared, hvlab_pv_shared_info{});
  ASSERT_EQ(f.call(HVLAB_PV_set_timer_op, 1, 0), 0);
  EXPECT_EQ(f.shared().evtchn_pending[port / 32] & (1u << port % 32), 1u << port % 32);
}

TEST(E5Events, EventChannelsNeedTheSharedInfoPage) {
  PvFixture f;
  f.put(kArg, hvlab_pv_evtchn_port{1});
  EXPECT_EQ(f.call(HVLAB_PV_event_channel_op, HVLAB_PV_EVTCHNOP_bind_ipi, kArg), err(HVLAB_PV_EINVAL));
}

}  // namespace
}  // namespace hvlab::lab03

#include "lab03-paravirt/src/event_channel.hpp"

#include "common/runtime/exercise.hpp"

namespace hvlab::lab03 {

bool SharedInfo::attach(GuestPhysAddr gpa) {
  if (!gpa.is_aligned(kPageSize) || !memory_.fill(gpa, 0, kPageSize).ok()) return false;
  gpa_ = gpa;
  attached_ = true;
  set_upcall_mask(1);
  return true;
}

void SharedInfo::update_time(std::uint64_t tsc, std::uint64_t system_ns, std::uint32_t mul, std::int8_t shift) {
  const std::size_t v = kTime + offsetof(hvlab_pv_vcpu_time, version);
  const std::uint32_t version = read<std::uint32_t>(v);
  write<std::uint32_t>(v, (version | 1u));  // odd: the guest retries while it reads this
  write<std::uint64_t>(kTime + offsetof(hvlab_pv_vcpu_time, tsc_timestamp), tsc);
  write<std::uint64_t>(kTime + offsetof(hvlab_pv_vcpu_time, system_time), system_ns);
  write<std::uint32_t>(kTime + offsetof(hvlab_pv_vcpu_time, tsc_to_system_mul), mul);
  write<std::int8_t>(kTime + offsetof(hvlab_pv_vcpu_time, tsc_shift), shift);
  write<std::uint32_t>(v, (version | 1u) + 1u);
}

void time_scale(std::uint64_t tsc_hz, std::uint32_t* mul, std::int8_t* shift) {
  constexpr std::uint64_t kNs = 1'000'000'000ull;
  if (tsc_hz == 0) tsc_hz = kNs;
  // Bring the rate into (1e9, 2e9] by powers of two: mul = 2^32 * 1e9 / rate then lies in
  // [2^31, 2^32), as many bits as a 32-bit multiplier has.
  std::uint64_t rate = tsc_hz;
  int s = 0;
  while (rate <= kNs) rate <<= 1, ++s;
  while (rate > 2 * kNs) rate >>= 1, --s;
  *mul = static_cast<std::uint32_t>((kNs << 32) / rate);
  *shift = static_cast<std::int8_t>(s);
}

std::uint64_t scale_ticks(std::uint64_t ticks, std::uint32_t mul, std::int8_t shift) {
  const std::uint64_t t = shift >= 0 ? ticks << shift : ticks >> -shift;
  // (t * mul) >> 32 without a 96-bit product: the halves of t separately.
  return (t >> 32) * mul + (((t & 0xffffffffu) * mul) >> 32);
}

// ---- Event channels (exercise e5) ---------------------------------------------------------------

int EventChannels::alloc(State s, std::uint8_t virq, std::uint32_t* port) {
  for (std::uint32_t p = 1; p < kPorts; ++p) {  // port 0 is never bound (Xen's convention)
    if (ports_[p].state != State::free) continue;
    ports_[p] = {s, virq};
    // A fresh port starts clear and unmasked.
    const unsigned w = p / 32;
    const std::uint32_t bit = 1u << (p % 32);
    shared_.set_pending_word(w, shared_.pending_word(w) & ~bit);
    shared_.set_mask_word(w, shared_.mask_word(w) & ~bit);
    *port = p;
    return 0;
  }
  return err(HVLAB_PV_ENOSPC);
}

int EventChannels::bind_virq(std::uint32_t virq, std::uint32_t* port) {
  if (virq >= HVLAB_PV_NR_VIRQS) return err(HVLAB_PV_EINVAL);
  if (virq_port_[virq]) return err(HVLAB_PV_EEXIST);
  int rc = alloc(State::virq, static_cast<std::uint8_t>(virq), port);
  if (rc == 0) virq_port_[virq] = *port;
  return rc;
}

int EventChannels::bind_ipi(std::uint32_t* port) { return alloc(State::ipi, 0, port); }

int EventChannels::send(std::uint32_t port) {
  if (!valid(port)) return err(HVLAB_PV_ESRCH);
  if (ports_[port].state != State::ipi) return err(HVLAB_PV_EINVAL);  // a VIRQ is the monitor's to raise
  set_pending(port);
  return 0;
}

void EventChannels::set_pending(std::uint32_t port) {
  // BEGIN SOLUTION lab03-e5
  ++stats_.raised;
  const unsigned w = port / 32;
  const std::uint32_t bit = 1u << (port % 32);
  const std::uint32_t pending = shared_.pending_word(w);
  if (pending & bit) return;  // already pending: one delivery covers both
  shared_.set_pending_word(w, pending | bit);
  if (shared_.mask_word(w) & bit) return;  // masked: it waits for unmask
  const std::uint32_t sel = shared_.pending_sel();
  if (sel & (1u << w)) return;
  shared_.set_pending_sel(sel | (1u << w));
  if (!shared_.upcall_pending()) {
    shared_.set_upcall_pending(1);
    ++stats_.notified;
  }
  // STUB: (void)port;
  // END SOLUTION
}

int EventChannels::unmask(std::uint32_t port) {
  if (!valid(port)) return err(HVLAB_PV_ESRCH);
  // BEGIN SOLUTION lab03-e5
  // An event that arrived while the port was masked is delivered now.
  const unsigned w = port / 32;
  const std::uint32_t bit = 1u << (port % 32);
  const std::uint32_t mask = shared_.mask_word(w);
  shared_.set_mask_word(w, mask & ~bit);
  if (!(mask & bit) || !(shared_.pending_word(w) & bit)) return 0;
  const std::uint32_t sel = shared_.pending_sel();
  if (sel & (1u << w)) return 0;
  shared_.set_pending_sel(sel | (1u << w));
  if (!shared_.upcall_pending()) {
    shared_.set_upcall_pending(1);
    ++stats_.notified;
  }
  return 0;
  // STUB: return err(HVLAB_PV_ENOSYS);
  // END SOLUTION
}

int EventChannels::close(std::uint32_t port) {
  if (!valid(port)) return err(HVLAB_PV_ESRCH);
  if (ports_[port].state == State::virq) virq_port_[ports_[port].virq] = 0;
  ports_[port] = Port{};
  const unsigned w = port / 32;
  shared_.set_pending_word(w, shared_.pending_word(w) & ~(1u << (port % 32)));
  return 0;
}

bool EventChannels::raise_virq(std::uint32_t virq) {
  const std::uint32_t port = port_of_virq(virq);
  if (port == 0) return false;
  set_pending(port);
  return true;
}

unsigned EventChannels::bound() const {
  unsigned n = 0;
  for (const Port& p : ports_) n += p.state != State::free;
  return n;
}

const char* EventChannels::check_invariants() const {
  if (ports_[0].state != State::free) return "port 0 is bound";
  for (std::uint32_t v = 0; v < HVLAB_PV_NR_VIRQS; ++v) {
    const std::uint32_t p = virq_port_[v];
    if (p == 0) continue;
    if (p >= kPorts || ports_[p].state != State::virq || ports_[p].virq != v) return "a VIRQ names a port not bound to it";
  }
  for (std::uint32_t p = 1; p < kPorts; ++p)
    if (ports_[p].state == State::virq && (ports_[p].virq >= HVLAB_PV_NR_VIRQS || virq_port_[ports_[p].virq] != p))
      return "a VIRQ port is missing from the VIRQ map";
  return nullptr;
}

}  // namespace hvlab::lab03

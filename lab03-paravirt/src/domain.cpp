#include "lab03-paravirt/src/domain.hpp"

#include "common/arch/x86.hpp"
#include "common/runtime/exercise.hpp"
#include "common/runtime/string.hpp"
#include "lab03-paravirt/src/guest_access.hpp"
#include "lab03-paravirt/src/hypercalls.hpp"

namespace hvlab::lab03 {

namespace fl = x86::eflags;

Domain::Domain(mem::GuestMemory& memory, FrameInfo* frames, std::uint32_t nr_pages,
               std::uint32_t hypervisor_virt_start)
    : mmu(memory, frames, nr_pages, hypervisor_virt_start),
      shared(memory),
      events(shared),
      hypervisor_virt_start_(hypervisor_virt_start) {}

// ---- Time ------------------------------------------------------------------------------------

std::uint64_t Domain::system_ns(std::uint64_t guest_time) const {
  if (!time_started_ || guest_time < time_base_) return 0;
  return scale_ticks(guest_time - time_base_, mul_, shift_);
}

bool Domain::attach_shared(GuestPhysAddr gpa) {
  if (!shared.attach(gpa)) return false;
  mmu.reserve_frame(static_cast<std::uint32_t>(gpa.value() >> 12));
  return true;
}

std::uint64_t Domain::guest_time_at(std::uint64_t ns) const {
  if (!time_started_ || tsc_hz_ == 0) return 0;
  // ns * hz / 1e9 without overflow: whole seconds first, then the rest.
  const std::uint64_t s = ns / 1'000'000'000u, rest = ns % 1'000'000'000u;
  return time_base_ + s * tsc_hz_ + (rest * (tsc_hz_ / 1000u)) / 1'000'000u;
}

void Domain::publish_time(vmm::Board& board, std::uint64_t host_tsc) {
  const std::uint64_t t = board.guest_time(host_tsc);
  if (!time_started_ || tsc_hz_ != board.tsc_hz()) {
    if (!time_started_) time_base_ = t;
    time_started_ = true;
    tsc_hz_ = board.tsc_hz();
    time_scale(tsc_hz_, &mul_, &shift_);
  }
  now_ns_ = system_ns(t);
  shared.update_time(board.guest_tsc(host_tsc), now_ns_, mul_, shift_);
  check_timer(now_ns_);
  if (timer_deadline_ns == 0) board.set_wake_deadline(0);
}

void Domain::check_timer(std::uint64_t now_ns) {
  if (timer_deadline_ns == 0 || now_ns < timer_deadline_ns) return;
  timer_deadline_ns = 0;
  events.raise_virq(HVLAB_PV_VIRQ_TIMER);
}

void Domain::write_stats(FormatSink& out) const {
  auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  format_to(out, "{\"kind\":\"hypercalls\",\"calls\":{");
  bool first = true;
  for (unsigned nr = 0; nr < HVLAB_PV_NR_HYPERCALLS; ++nr) {
    if (!calls[nr]) continue;
    format_to(out, "%s\"%s\":%llu", first ? "" : ",", hypercall_name(nr), u(calls[nr]));
    first = false;
  }
  format_to(out, "},\"refused\":{");
  first = true;
  for (unsigned nr = 0; nr < HVLAB_PV_NR_HYPERCALLS; ++nr) {
    if (!refused[nr]) continue;
    format_to(out, "%s\"%s\":%llu", first ? "" : ",", hypercall_name(nr), u(refused[nr]));
    first = false;
  }
  const PvMmu::Stats& s = mmu.stats();
  format_to(out,
            "},\"unknown\":%llu,\"pt_updates\":%llu,\"pt_batches\":%llu,\"largest_batch\":%u,\"validations\":%llu,"
            "\"flushes\":%llu,\"events_raised\":%llu,\"upcalls\":%llu}\n",
            u(unknown), u(s.updates), u(batches), largest_batch, u(s.validations), u(s.flushes),
            u(events.stats().raised), u(upcalls));
}

// ---- Start of day ------------------------------------------------------------------------------

void write_hypercall_page(std::uint8_t (&page)[HVLAB_PV_PAGE_SIZE]) {
  for (unsigned nr = 0; nr < HVLAB_PV_MAX_HYPERCALLS; ++nr) {
    std::uint8_t* s = page + nr * HVLAB_PV_STUB_SIZE;
    for (unsigned i = 0; i < HVLAB_PV_STUB_SIZE; ++i) s[i] = 0xcc;  // int3 between stubs
    s[0] = 0xb8;                                                    // mov $nr, %eax
    s[1] = static_cast<std::uint8_t>(nr);
    s[2] = s[3] = s[4] = 0;
    s[5] = 0xcd;  // int $0x82
    s[6] = HVLAB_PV_TRAP_VECTOR;
    s[7] = 0xc3;  // ret
  }
}

const char* start_domain(PvMachine& m, GuestPhysAddr image, std::uint32_t tsc_khz) {
  Domain& d = m.domain();
  mem::GuestMemory& memory = m.board().memory();
  // The header: 4-byte aligned in the image's first 8 KiB, closed by the inverted magic.
  hvlab_pv_header h{};
  bool found = false;
  for (std::uint32_t off = 0; off + sizeof h <= 8192 && !found; off += 4) {
    auto r = memory.read<hvlab_pv_header>(image + off);
    if (!r.ok()) break;
    h = r.value();
    found = h.magic == HVLAB_PV_HEADER_MAGIC && h.magic_end == ~HVLAB_PV_HEADER_MAGIC;
  }
  if (!found) return "the guest has no paravirtual header (hvlab_pv_header) in its first 8 KiB: not a paravirtual build";
  if ((h.abi_version >> 16) != (HVLAB_PV_ABI_VERSION >> 16)) return "the guest was built for another major ABI version";
  const std::uint32_t pages[3] = {h.hypercall_page, h.shared_info, h.start_info};
  for (unsigned i = 0; i < 3; ++i) {
    if ((pages[i] & 0xfffu) || !d.mmu.owns(pages[i] >> 12))
      return "the paravirtual header names a page that is not a page of the guest's RAM";
    for (unsigned j = 0; j < i; ++j)
      if (pages[i] == pages[j]) return "the paravirtual header names the same page twice";
  }
  d.layout = {GuestPhysAddr(h.hypercall_page), GuestPhysAddr(h.shared_info), GuestPhysAddr(h.start_info)};

  std::uint8_t stubs[HVLAB_PV_PAGE_SIZE];
  write_hypercall_page(stubs);
  if (!memory.copy_in(d.layout.hypercall_page, stubs, sizeof stubs).ok()) return "cannot write the hypercall page";
  if (!d.attach_shared(d.layout.shared_info)) return "cannot initialise the shared info page";

  hvlab_pv_start_info si{};
  rt::mem_copy(si.magic, HVLAB_PV_START_MAGIC, sizeof HVLAB_PV_START_MAGIC);  // NUL-padded: si starts zeroed
  si.abi_version = HVLAB_PV_ABI_VERSION;
  si.nr_pages = d.mmu.nr_pages();
  si.hypervisor_virt_start = d.hypervisor_virt_start();
  si.shared_info = h.shared_info;
  si.tsc_khz = tsc_khz;
  if (!memory.fill(d.layout.start_info, 0, kPageSize).ok() || !memory.write(d.layout.start_info, si).ok())
    return "cannot write the start info page";
  d.started = true;
  return nullptr;
}

// ---- Delivery through the trap table -----------------------------------------------------------

bool deliver(PvMachine& m, unsigned vector, Delivery kind, bool has_error, std::uint32_t error,
             std::uint8_t insn_length) {
  Domain& d = m.domain();
  vmm::VCpu& v = m.vcpu();
  // BEGIN SOLUTION lab03-e3
  TrapEntry target;
  if (kind == Delivery::upcall) {
    target = {d.event_callback.cs, HVLAB_PV_TI_MASK_EVENTS, d.event_callback.eip};
  } else {
    target = d.traps[vector & 0xff];
  }
  // INT n with no entry is a #GP naming the vector, as for a vector beyond the IDT's limit
  // (SDM 6.12.1.1); an exception or interrupt with nowhere to go stops the guest.
  if (!target.valid() && kind == Delivery::software && vector != x86::vector::GP)
    return deliver(m, x86::vector::GP, Delivery::exception, true, vector * 8 + 2);
  if (!target.valid()) {
    m.board().contain("the guest has no handler for %s %u in its trap table (eip %08x)",
                      kind == Delivery::upcall ? "its event callback, vector" : "vector", vector, v.eip);
    return false;
  }
  // INT n reaches a handler only if the entry's DPL allows the caller's CPL (SDM 6.12.1.1);
  // else a #GP whose error code names the vector (IDT, EXT = 0).
  if (kind == Delivery::software && (target.flags & HVLAB_PV_TI_DPL_MASK) < v.cpl)
    return deliver(m, x86::vector::GP, Delivery::exception, true, vector * 8 + 2);

  // The frame goes on the kernel stack: the current one in the kernel, stack_switch's when
  // the guest was in user mode (the TSS's ring-1 stack on the real machine).
  const bool from_user = v.cpl == 3;
  std::uint32_t esp = v.regs.esp;
  std::uint16_t ss = v.ss;
  if (from_user) {
    if (!d.kernel_stack_set) {
      m.board().contain("vector %u arrived in user mode before the guest named its kernel stack (stack_switch)", vector);
      return false;
    }
    esp = d.kernel_esp;
    ss = d.kernel_ss;
  }
  const std::uint32_t flags = (v.eflags & ~fl::IF) | (d.shared.upcall_mask() ? 0 : fl::IF);
  std::uint32_t frame[6];
  unsigned n = 0;
  if (has_error) frame[n++] = error;
  frame[n++] = v.eip + insn_length;
  frame[n++] = v.cs;
  frame[n++] = flags;
  if (from_user) {
    frame[n++] = v.regs.esp;
    frame[n++] = v.ss;
  }
  const std::uint32_t top = esp - 4 * n;
  if (copy_to_guest(m, top, frame, 4 * n) < 0) {
    m.board().contain("cannot deliver vector %u: the guest's kernel stack at %08x cannot take the frame", vector, top);
    return false;
  }
  v.regs.esp = top;
  v.ss = ss;
  v.cs = target.cs;
  v.eip = target.address;
  v.cpl = 0;
  v.eflags &= ~(fl::TF | fl::NT | fl::RF | fl::VM);
  if (target.flags & HVLAB_PV_TI_MASK_EVENTS) d.shared.set_upcall_mask(1);
  v.eflags = d.shared.upcall_mask() ? (v.eflags & ~fl::IF) : (v.eflags | fl::IF);
  if (vector == x86::vector::PF && kind == Delivery::exception) d.shared.set_cr2(v.cr2);
  // STUB: (void)d, (void)v, (void)vector, (void)kind, (void)has_error, (void)error, (void)insn_length;
  // STUB: return false;
  // END SOLUTION
  v.halted = false;
  d.blocked = false;
  return true;
}

bool deliver(PvMachine& m, const vmm::PendingEvent& e) {
  using T = vmm::PendingEvent::Type;
  switch (e.type) {
    case T::external_interrupt:
      return deliver(m, e.vector, Delivery::external);
    case T::software_interrupt:
    case T::software_exception:
    case T::privileged_software_exception:
      // INT n, INT3, INTO return after the instruction; a #GP from the DPL check points at it.
      return deliver(m, e.vector, Delivery::software, false, 0, e.insn_length);
    default:
      return deliver(m, e.vector, Delivery::exception, e.has_error_code, e.error_code);
  }
}

bool deliver_upcall(PvMachine& m) {
  Domain& d = m.domain();
  // BEGIN SOLUTION lab03-e5
  if (!d.shared.attached() || !d.shared.upcall_pending() || d.shared.upcall_mask() || !d.event_callback.valid())
    return false;
  if (!deliver(m, 0, Delivery::upcall)) return false;
  ++d.upcalls;
  return true;
  // STUB: (void)d;
  // STUB: return false;
  // END SOLUTION
}

}  // namespace hvlab::lab03

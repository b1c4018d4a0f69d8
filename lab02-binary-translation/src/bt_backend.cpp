#include "lab02-binary-translation/src/bt_backend.hpp"

#include "common/runtime/exercise.hpp"
#include "common/runtime/format.hpp"
#include "lab01-trap-and-emulate/src/selectors.h"
#include "lab01-trap-and-emulate/src/trap_event.hpp"

namespace hvlab::lab02 {

namespace {
constexpr std::uint16_t kCacheCS = LAB01_EXTENSION_CS | 1;  // ring 1, as the guest kernel

/// Rules whose instruction lab01's handlers emulate as they would a #GP of it.
bool lab01_emulates(const decoder::Instruction& insn, Rule r) {
  // CLI and STI call out only where the translator could not do them inline.
  if (r == Rule::callout || r == Rule::cli || r == Rule::sti) return true;
  return r == Rule::far && insn.mnemonic() == ZYDIS_MNEMONIC_RET;
}
}  // namespace

BtBackend::BtBackend(vmm::Board& board, const Config& c)
    : TrapBackend(board, c.trap), translator_(c.translator), ram_(c.ram), ram_bytes_(c.ram_bytes) {
  mmu().set_write_watch(this);
}

// ---- the guest's code, for the translator -------------------------------------------------

bool BtBackend::fetch(std::uint32_t la, std::uint8_t* buf, std::size_t n, std::size_t* got) {
  *got = 0;
  vmm::ExceptionInfo f;
  while (*got < n) {
    const std::uint32_t at = la + static_cast<std::uint32_t>(*got);
    std::size_t chunk = kPageSize - (at & 0xfff);
    if (chunk > n - *got) chunk = n - *got;
    if (!read_linear(*cur_, GuestVirtAddr(at), buf + *got, chunk, false, &f)) break;
    *got += chunk;
  }
  return *got > 0;
}

std::uint32_t BtBackend::frame_of(std::uint32_t la) {
  auto w = mmu().walk(la, mem::Access::supervisor_read());
  return w.kind == lab01::ShadowMmu::WalkKind::ok ? static_cast<std::uint32_t>(w.gpa.value() >> 12) : kNone;
}

// ---- the write watch -----------------------------------------------------------------------

bool BtBackend::watched(GuestPhysAddr frame) const {
  const std::uint64_t f = frame.value() >> 12;
  return f < kMaxWatchedFrames && (watch_[f / 8] & (1u << (f % 8)));
}

void BtBackend::watch(vmm::VCpu& v, std::uint32_t frame, std::uint32_t la) {
  (void)v;
  if (frame == kNone || frame >= kMaxWatchedFrames || (watch_[frame / 8] & (1u << (frame % 8)))) return;
  watch_[frame / 8] |= static_cast<std::uint8_t>(1u << (frame % 8));
  // Its shadow entry, if filled, loses RW now; later fills keep it off (on_page_fault).
  mmu().protect_watched(la);
}

void BtBackend::unwatch(std::uint32_t frame) {
  if (frame < kMaxWatchedFrames) watch_[frame / 8] &= static_cast<std::uint8_t>(~(1u << (frame % 8)));
}

bool BtBackend::let_write(vmm::VCpu& v, std::uint32_t la) {
  auto w = mmu().walk(la, mem::Access{mem::Access::Op::write, v.cpl == 3, false});
  if (w.kind != lab01::ShadowMmu::WalkKind::ok) return false;
  const std::uint32_t frame = static_cast<std::uint32_t>(w.gpa.value() >> 12);
  if (!watched(GuestPhysAddr(std::uint64_t{frame} << 12))) return false;
  ++counters_.watch_faults;
  unwatch(frame);
  return true;
}

bool BtBackend::code_written(vmm::VCpu& v, std::uint32_t la) {
  auto w = mmu().walk(la, mem::Access{mem::Access::Op::write, v.cpl == 3, false});
  if (w.kind != lab01::ShadowMmu::WalkKind::ok || !let_write(v, la)) return false;
  translator_->invalidate_frame(static_cast<std::uint32_t>(w.gpa.value() >> 12));
  if (v.cpl == 0) one_shot_eip_ = v.eip;
  return true;
}

void BtBackend::guest_memory_written(const void* host, std::size_t n) {
  const auto* p = static_cast<const std::uint8_t*>(host);
  if (p < ram_ || p >= ram_ + ram_bytes_ || n == 0) return;
  const std::uint64_t first = static_cast<std::uint64_t>(p - ram_) >> 12;
  const std::uint64_t last = (static_cast<std::uint64_t>(p - ram_) + n - 1) >> 12;
  for (std::uint64_t f = first; f <= last; ++f) {
    if (!watched(GuestPhysAddr(f << 12))) continue;
    ++counters_.monitor_writes;
    translator_->invalidate_frame(static_cast<std::uint32_t>(f));
  }
}

// ---- entering translated code --------------------------------------------------------------

Result<std::uint32_t> BtBackend::translate(vmm::VCpu& v, std::uint32_t eip, std::uint8_t mode, bool one_shot) {
  auto r = translator_->translate(eip, v.cs, mode, *this, one_shot);
  if (!r.ok() && r.error() == Error::out_of_memory) {
    translator_->flush();
    r = translator_->translate(eip, v.cs, mode, *this, one_shot);
  }
  if (r.ok() && !one_shot) {
    const Block& b = translator_->block(r.value());
    watch(v, b.frames[0], eip);
    if (b.frames[1] != kNone) watch(v, b.frames[1], (eip | 0xfff) + 1);
  }
  if (r.ok()) note_inline(v, r.value());
  return r;
}

void BtBackend::note_inline(vmm::VCpu& v, std::uint32_t block) {
  vmm::TraceWriter* trace = board().trace();
  if (!trace) return;
  const Block& b = translator_->block(block);
  std::uint32_t last = kNone;
  for (std::uint32_t i = b.first_record; i < b.first_record + b.records; ++i) {
    const Record& rec = translator_->record(i);
    const Rule r = rec.rule;
    if (rec.eip == last || rec.spot != Spot::insn ||
        (r != Rule::cli && r != Rule::sti && r != Rule::pushf && r != Rule::popf))
      continue;
    last = rec.eip;
    // (A callout of the rule starts with its Spot::callout record instead.)
    std::uint64_t& seen = inline_notes_[static_cast<unsigned>(r)];
    if (seen >= 4) continue;
    ++seen;
    std::uint8_t bytes[15];
    std::size_t got = 0;
    decoder::Instruction insn;
    char text[64] = "?";
    if (fetch(rec.eip, bytes, sizeof bytes, &got) && decoder().decode_into(bytes, got, insn).ok())
      (void)decoder().format(insn, rec.eip, text, sizeof text);
    format_to(trace->sink(), "{\"kind\":\"inline\",\"rule\":\"%s\",\"insn\":\"%s\",\"eip\":\"0x%08x\",\"if\":%u}\n",
              rule_name(r), text, rec.eip, (b.mode & kModeIF) ? 1u : 0u);
  }
  (void)v;
}

void BtBackend::request_interrupt_window(vmm::VCpu& v, bool on) {
  TrapBackend::request_interrupt_window(v, on);
  translator_->set_interrupt_waiting(on);
}

void BtBackend::take_mode(vmm::VCpu& v, std::uint8_t mode) {
  v.eflags = (mode & kModeIF) ? (v.eflags | x86::eflags::IF) : (v.eflags & ~x86::eflags::IF);
  shadow_ = (mode & kModeShadow) != 0;
}

bool BtBackend::prepare(vmm::VCpu& v, vmm::Event* stop) {
  std::uint32_t b = kNone;
  const bool one_shot = one_shot_eip_ == v.eip;
  one_shot_eip_ = kNone;
  const std::uint8_t mode = mode_of(v.eflags, v.interrupt_shadow);
  if (!one_shot) b = translator_->lookup(v.eip, v.cs, mode);
  if (b == kNone) {
    auto r = translate(v, v.eip, mode, one_shot);
    if (one_shot && r.ok()) ++counters_.one_shots;
    if (!r.ok() && r.error() == Error::unsupported) {
      // No translation for the guest's code here yet: it runs as it is, at ring 1 in its own
      // code segment, as under lab01, until its next trap.
      ++counters_.untranslated_entries;
      entry_block_ = kNone;
      return true;
    }
    if (!r.ok()) {
      // The guest's own fault on fetching its code: the first byte that will not come.
      vmm::ExceptionInfo f;
      std::uint8_t byte;
      bool faulted = false;
      for (std::uint32_t i = 0; i < 15 && !faulted; ++i)
        faulted = !read_linear(v, GuestVirtAddr(v.eip + i), &byte, 1, false, &f);
      if (!faulted) {
        board().contain("the translation cache cannot hold the guest's block at %08x", v.eip);
        return false;
      }
      stop->source = vmm::Source::callout;
      stop->reason = vmm::Reason::translation;
      stop->raw_reason = static_cast<std::uint32_t>(CalloutKind::fetch_fault);
      stop->guest_eip = v.eip;
      stop->exception = {f.vector, f.has_error_code, f.error_code, f.address};
      stop->memory.linear = GuestVirtAddr(f.address);
      stop->memory.has_linear = f.vector == 14;
      return false;
    }
    b = r.value();
  }
  entry_block_ = b;
  entry_cs_ = v.cs;
  return true;
}

void BtBackend::guest_state_stored(const vmm::VCpu& v, TrapFrame& f) {
  if (v.cpl != 0) return;
  if (resume_at_ != kNone) {
    f.cs = kCacheCS;
    f.eip = resume_at_;
    return;
  }
  if (entry_block_ == kNone) return;
  f.cs = kCacheCS;
  f.eip = translator_->block(entry_block_).start;
}

void BtBackend::imprecise(vmm::VCpu& v, const TrapFrame& f) {
  const std::uint32_t b = translator_->block_at(f.eip);
  if (b == kNone) {
    pending_ = Pending::lost;
    lost_offset_ = f.eip;
    return;
  }
  v.eip = translator_->block(b).eip;
  take_mode(v, translator_->block(b).mode);
  if (f.eip == translator_->block(b).start) return;  // its first instruction: exact
  ++counters_.imprecise;
  resume_offset_ = f.eip;
  resume_eip_ = v.eip;
  resume_block_ = b;
  resume_flushes_ = translator_->stats().flushes;
  imprecise_ = true;
}

bool BtBackend::unwind(vmm::VCpu& v, const Record& r) {
  // BEGIN SOLUTION lab02-e6
  // Inside an inline lookup: the words the sequence saved come off the guest's stack, and
  // the guest is either before its branch (the pushed words dropped) or after it (at the
  // block whose cache offset the sequence put where the target was).
  const Unwind u = Unwind::unpack(r.unwind);
  std::uint32_t words[4] = {};
  const std::uint32_t sp = segment_base(v.ss) + v.regs.esp;
  const unsigned n = u.saved + (u.forward ? 1 : 0);
  vmm::ExceptionInfo fault;
  if (n && !read_linear(v, GuestVirtAddr(sp), words, 4 * n, false, &fault)) return false;
  constexpr std::uint32_t arith = x86::eflags::CF | x86::eflags::PF | x86::eflags::AF | x86::eflags::ZF |
                                  x86::eflags::SF | x86::eflags::OF;
  if (u.saved >= 1) v.eflags = (v.eflags & ~arith) | (words[u.saved - 1] & arith);
  if (u.saved >= 2) v.regs.eax = words[u.saved - 2];
  if (u.saved >= 3) v.regs.ebx = words[u.saved - 3];
  if (!u.forward) {
    v.regs.esp += 4 * (u.saved + u.extra);
    unwound_eip_ = r.eip;
    return true;
  }
  const Record* to = translator_->locate(words[u.saved]);
  if (!to) return false;
  v.regs.esp += 4 * (u.saved + 1) + u.imm;
  unwound_eip_ = to->eip;
  return true;
  // STUB: (void)v; (void)r;
  // STUB: return false;
  // END SOLUTION
}

void BtBackend::guest_state_loaded(vmm::VCpu& v, const TrapFrame& f) {
  if ((f.cs & 0xfff8) != LAB01_EXTENSION_CS) return;
  // Translated code: the guest's own CS. A callout or an exit stub is an `int $0xF0` with a
  // record of its own (the EIP after it is the trap frame's): the guest EIP it stands for.
  v.cs = entry_cs_;
  v.cpl = 0;
  if ((f.vector & 0xff) == kCalloutVector) {
    const Record* c = translator_->locate(f.eip - 2);
    if (c && (c->spot == Spot::callout || c->spot == Spot::exit)) {
      v.eip = c->eip;
      take_mode(v, c->mode);
      // The monitor completes a callout's instruction: an STI shadow ends there.
      if (c->spot == Spot::callout) shadow_ = false;
      pending_ = c->spot == Spot::exit ? Pending::exit : Pending::callout;
      pending_aux_ = c->aux;
      return;
    }
  }
  // BEGIN SOLUTION lab02-e6 degraded
  // Any other trap (a fault, an interrupt, the monitor's single step): the guest EIP whose
  // state the registers hold at this cache offset, unwound inside an inline lookup.
  const Record* r = translator_->locate(f.eip);
  if (r && (!r->unwind || unwind(v, *r))) {
    v.eip = r->unwind ? unwound_eip_ : r->eip;
    take_mode(v, r->mode);
    // Only an interrupt keeps an STI shadow: the monitor's single step to the end of one
    // (which may stop inside an inline sequence, unwound to its start) ends it, or it would
    // step the same instructions for ever.
    const unsigned vector = f.vector & 0xff;
    if (vector < kIrqBase || vector >= kIrqBase + 16) shadow_ = false;
    return;
  }
  pending_ = Pending::lost;
  lost_offset_ = f.eip;
  // STUB: imprecise(v, f);
  // END SOLUTION
}

vmm::Event BtBackend::enter(vmm::VCpu& v) {
  cur_ = &v;
  pending_ = Pending::none;
  entry_block_ = kNone;
  imprecise_ = false;
  shadow_ = false;
  // After an imprecise trap (imprecise()) the guest goes on in the cache where it stopped,
  // unless the monitor moved it (a fault or an interrupt delivered, an instruction emulated).
  // Nor if its block was dropped or the cache flushed meanwhile.
  const bool same = resume_offset_ != kNone && v.cpl == 0 && v.eip == resume_eip_ && v.cs == entry_cs_ &&
                    translator_->stats().flushes == resume_flushes_ && translator_->block(resume_block_).live;
  resume_at_ = same ? resume_offset_ : kNone;
  resume_offset_ = kNone;
  if (resume_at_ != kNone) {
    ++counters_.translated_entries;
  } else if (v.cpl == 0 && board().running()) {
    vmm::Event stop;
    if (!prepare(v, &stop)) return stop;
    if (entry_block_ != kNone) ++counters_.translated_entries;
  } else {
    ++counters_.direct_entries;
  }
  vmm::Event e = TrapBackend::enter(v);
  resume_at_ = kNone;
  // Stopped in translated code before the instruction in an STI shadow completed (after an
  // inline STI): no interrupt before it has.
  if (shadow_) v.interrupt_shadow = true;
  // Stopped inside a block whose guest EIP is not known: no virtual interrupt until the
  // translated code reaches an exit or a callout (the interrupt window single-steps it there).
  if (imprecise_) v.interrupt_shadow = true;
  // A callout ends an STI shadow as lab01's trap on the instruction does: the monitor
  // completes the instruction.
  if (pending_ == Pending::none) return e;
  vmm::Event c;
  c.source = vmm::Source::callout;
  c.reason = vmm::Reason::translation;
  c.guest_eip = v.eip;
  c.guest_cpl = 0;
  switch (pending_) {
    case Pending::lost:
      board().contain("translated code trapped (vector %u) at cache offset %08x, which is no instruction boundary",
                      e.raw_reason, lost_offset_);
      c.reason = vmm::Reason::other;
      return c;
    case Pending::exit: {
      ++translator_->stats().unchained_exits;
      c.raw_reason = static_cast<std::uint32_t>(CalloutKind::exit);
      // BEGIN SOLUTION lab02-e5 degraded
      // Chain the exit to its target's translation: next time the jump goes straight there.
      const Exit& x = translator_->exit(pending_aux_);
      const std::uint32_t target = x.target;
      const std::uint64_t flushes = translator_->stats().flushes;
      if (translator_->block(x.block).live && !translator_->block(x.block).one_shot) {
        std::uint32_t to = translator_->lookup(target, v.cs, x.mode);
        if (to == kNone) {
          auto r = translate(v, target, x.mode, false);
          if (r.ok()) to = r.value();
        }
        // A flush on the way (the cache was full) leaves no exit to chain.
        if (to != kNone && translator_->stats().flushes == flushes) translator_->chain(pending_aux_, to);
      }
      // STUB: (void)0;
      // END SOLUTION
      return c;
    }
    case Pending::callout: {
      const Site& s = translator_->site(pending_aux_);
      ++translator_->stats().callouts;
      ++translator_->stats().callouts_by_rule[static_cast<unsigned>(s.rule)];
      DecodedSite& d = decoded_[pending_aux_ % kDecodedSites];
      if (d.site != pending_aux_ || d.flushes != translator_->stats().flushes) {
        d.site = kNone;
        if (!decoder().decode_into(s.bytes, s.length, d.insn).ok()) {
          board().contain("a callout's guest instruction at %08x no longer decodes", s.eip);
          c.reason = vmm::Reason::other;
          return c;
        }
        d.site = pending_aux_;
        d.flushes = translator_->stats().flushes;
      }
      insn_ = &d.insn;
      if (lab01_emulates(*insn_, s.rule)) {
        vmm::Event g = lab01::make_trap_event(v, x86::vector::GP, 0, 0, insn_, *this);
        g.source = vmm::Source::callout;
        return g;
      }
      c.raw_reason = static_cast<std::uint32_t>(CalloutKind::emulate);
      c.raw_qualification = static_cast<std::uint64_t>(s.rule);
      c.insn = insn_;
      c.insn_length = s.length;
      return c;
    }
    case Pending::none:
      break;
  }
  return e;
}

void BtBackend::finish(vmm::TraceWriter& trace) {
  TrapBackend::finish(trace);
  auto u = [](std::uint64_t x) { return static_cast<unsigned long long>(x); };
  const TranslatorStats& s = translator_->stats();
  format_to(trace.sink(),
            "{\"kind\":\"translator\",\"blocks\":%llu,\"guest_insns\":%llu,\"ident_insns\":%llu,\"lookups\":%llu,"
            "\"hits\":%llu,\"misses\":%llu,\"chained\":%llu,\"unchained_exits\":%llu,\"callouts\":%llu,"
            "\"invalidations\":%llu,\"blocks_invalidated\":%llu,\"flushes\":%llu,\"translated_entries\":%llu,"
            "\"direct_entries\":%llu,\"one_shots\":%llu,\"watch_faults\":%llu,\"monitor_writes\":%llu,"
            "\"cache_bytes\":%u,\"discovered\":%llu,\"untranslated_entries\":%llu,\"imprecise\":%llu",
            u(s.blocks), u(s.guest_insns), u(s.ident_insns), u(s.lookups), u(s.hits), u(s.misses), u(s.chained),
            u(s.unchained_exits), u(s.callouts), u(s.invalidations), u(s.blocks_invalidated), u(s.flushes),
            u(counters_.translated_entries), u(counters_.direct_entries), u(counters_.one_shots),
            u(counters_.watch_faults), u(counters_.monitor_writes), translator_->code_used(), u(s.discovered),
            u(counters_.untranslated_entries), u(counters_.imprecise));
  format_to(trace.sink(), ",\"callouts_by_rule\":{");
  bool first = true;
  for (unsigned i = 0; i < static_cast<unsigned>(Rule::count); ++i) {
    if (!s.callouts_by_rule[i]) continue;
    format_to(trace.sink(), "%s\"%s\":%llu", first ? "" : ",", rule_name(static_cast<Rule>(i)),
              u(s.callouts_by_rule[i]));
    first = false;
  }
  format_to(trace.sink(), "},\"inline_by_rule\":{");
  first = true;
  for (unsigned i = 0; i < static_cast<unsigned>(Rule::count); ++i) {
    if (!s.inline_by_rule[i]) continue;
    format_to(trace.sink(), "%s\"%s\":%llu", first ? "" : ",", rule_name(static_cast<Rule>(i)),
              u(s.inline_by_rule[i]));
    first = false;
  }
  format_to(trace.sink(), "}}\n");
}

}  // namespace hvlab::lab02

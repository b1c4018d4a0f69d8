#include "lab03-paravirt/src/guest_access.hpp"

#include "common/arch/x86.hpp"
#include "common/memory/page_table.hpp"
#include "lab03-paravirt/src/domain.hpp"
#include "lab03-paravirt/src/errors.hpp"

namespace hvlab::lab03 {

namespace {

// The guest-physical address of `va` for this access, or false. No A/D bits are set: a
// hypercall that fails must leave the guest's memory as it was.
bool translate(PvMachine& m, std::uint32_t va, bool write, GuestPhysAddr* gpa) {
  const vmm::VCpu& v = m.vcpu();
  if (!(v.cr0 & x86::cr0::PG)) {
    *gpa = GuestPhysAddr(va);
    return true;
  }
  if (v.cr4 & x86::cr4::PAE) return false;  // the ABI is 32-bit paging only
  mem::GuestPageTable32 pt(m.board().memory(), GuestPhysAddr(v.cr3 & ~0xfffu), nullptr,
                           mem::PagingControls::from_registers(v.cr0, v.cr4, v.msr_efer));
  const mem::Access access{write ? mem::Access::Op::write : mem::Access::Op::read, false, false};
  auto r = pt.access(GuestVirtAddr(va), access, false);
  if (!r.ok()) return false;
  *gpa = r.translation.phys;
  return true;
}

// Walks [va, va + n) page by page; with `buf`, copies each piece (to the guest if `write`).
int walk(PvMachine& m, std::uint32_t va, unsigned char* buf, std::size_t n, bool write) {
  if (n == 0) return 0;
  const std::uint64_t end = std::uint64_t{va} + n;
  if (end > m.domain().hypervisor_virt_start()) return err(HVLAB_PV_EFAULT);
  mem::GuestMemory& memory = m.board().memory();
  while (n > 0) {
    std::size_t chunk = kPageSize - (va & 0xfffu);
    if (chunk > n) chunk = n;
    GuestPhysAddr gpa;
    if (!translate(m, va, write, &gpa) || !memory.contains(gpa, chunk)) return err(HVLAB_PV_EFAULT);
    if (buf) {
      Status s = write ? memory.copy_in(gpa, buf, chunk) : memory.copy_out(buf, gpa, chunk);
      if (!s.ok()) return err(HVLAB_PV_EFAULT);
      buf += chunk;
    }
    va += static_cast<std::uint32_t>(chunk);
    n -= chunk;
  }
  return 0;
}

}  // namespace

int probe_guest(PvMachine& m, std::uint32_t va, std::size_t n, bool write) { return walk(m, va, nullptr, n, write); }

int copy_from_guest(PvMachine& m, void* dst, std::uint32_t va, std::size_t n) {
  return walk(m, va, static_cast<unsigned char*>(dst), n, false);
}

int copy_to_guest(PvMachine& m, std::uint32_t va, const void* src, std::size_t n) {
  // All or nothing: every page is checked before the first byte is written.
  if (int rc = walk(m, va, nullptr, n, true); rc < 0) return rc;
  return walk(m, va, static_cast<unsigned char*>(const_cast<void*>(src)), n, true);
}

}  // namespace hvlab::lab03

#include "common/vmm/backend.hpp"

#include "common/arch/x86.hpp"
#include "common/memory/page_table.hpp"

namespace hvlab::vmm {

bool copy_linear(Board& board, const VCpu& vcpu, GuestVirtAddr la, void* buf, std::size_t n, bool user, bool write,
                 ExceptionInfo* fault) {
  auto* p = static_cast<unsigned char*>(buf);
  const bool paging = (vcpu.cr0 & x86::cr0::PG) != 0;
  if (paging && (vcpu.cr4 & x86::cr4::PAE)) {
    board.fail("the guest uses PAE paging, which the monitor's own accesses cannot walk");
    *fault = {13, true, 0};
    return false;
  }
  mem::GuestPageTable32 pt(board.memory(), GuestPhysAddr(vcpu.cr3 & ~0xfffu), nullptr,
                           mem::PagingControls::from_registers(vcpu.cr0, vcpu.cr4, vcpu.msr_efer));
  while (n > 0) {
    std::size_t chunk = kPageSize - la.page_offset();
    if (chunk > n) chunk = n;
    GuestPhysAddr gpa(la.low32());
    if (paging) {
      mem::Access a{write ? mem::Access::Op::write : mem::Access::Op::read, user, false};
      auto r = pt.access(la, a);
      if (r.page_fault()) {
        *fault = {14, true, r.error_code, la.low32()};
        return false;
      }
      if (!r.ok()) {
        board.contain("the guest's page tables for linear %08x lie outside its memory", la.low32());
        *fault = {13, true, 0, 0};
        return false;
      }
      gpa = r.translation.phys;
    }
    Status s = write ? board.memory().copy_in(gpa, p, chunk) : board.memory().copy_out(p, gpa, chunk);
    if (!s.ok()) {
      board.contain("the guest made the monitor touch guest-physical %08llx, outside its memory",
                    static_cast<unsigned long long>(gpa.value()));
      *fault = {13, true, 0};
      return false;
    }
    la += chunk;
    p += chunk;
    n -= chunk;
  }
  return true;
}

bool Backend::read_linear(VCpu& vcpu, GuestVirtAddr la, void* dst, std::size_t n, bool user, ExceptionInfo* fault) {
  return copy_linear(board_, vcpu, la, dst, n, user, false, fault);
}

bool Backend::write_linear(VCpu& vcpu, GuestVirtAddr la, const void* src, std::size_t n, bool user,
                           ExceptionInfo* fault) {
  return copy_linear(board_, vcpu, la, const_cast<void*>(src), n, user, true, fault);
}

}  // namespace hvlab::vmm

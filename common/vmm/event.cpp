#include "common/vmm/event.hpp"

namespace hvlab::vmm {

const char* reason_name(Reason r) {
  switch (r) {
#define HVLAB_X(name) \
  case Reason::name:  \
    return #name;
    HVLAB_EVENT_REASONS(HVLAB_X)
#undef HVLAB_X
    case Reason::count:
      break;
  }
  return "?";
}

const char* privileged_op_name(PrivilegedOp op) {
  switch (op) {
#define HVLAB_X(name)     \
  case PrivilegedOp::name: \
    return #name;
    HVLAB_PRIVILEGED_OPS(HVLAB_X)
#undef HVLAB_X
    case PrivilegedOp::count:
      break;
  }
  return "?";
}

std::uint32_t Event::number() const {
  switch (reason) {
    case Reason::msr_read:
    case Reason::msr_write: return msr.index;
    case Reason::cr_access: return cr.cr;
    case Reason::software_interrupt: return exception.vector;
    case Reason::hypercall: return hypercall;
    default: return 0;
  }
}

}  // namespace hvlab::vmm

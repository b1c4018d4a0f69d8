#include "lab03-paravirt/src/errors.hpp"

namespace hvlab::lab03 {

const char* error_name(int rc) {
  if (rc >= 0) return "ok";
  switch (-rc) {
#define HVLAB_PV_X(name, value, what) \
  case value: return #name;
    HVLAB_PV_ERRORS(HVLAB_PV_X)
#undef HVLAB_PV_X
  }
  return "E?";
}

const char* error_text(int rc) {
  if (rc >= 0) return "success";
  switch (-rc) {
#define HVLAB_PV_X(name, value, what) \
  case value: return what;
    HVLAB_PV_ERRORS(HVLAB_PV_X)
#undef HVLAB_PV_X
  }
  return "an unknown error";
}

}  // namespace hvlab::lab03

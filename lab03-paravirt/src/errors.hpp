#pragma once
// The ABI's error codes as the monitor returns them: negated, in EAX.

#include "lab03-paravirt/abi/hvlab_pv.h"

namespace hvlab::lab03 {

/// A negative ABI error code: err(HVLAB_PV_EINVAL) is -22.
constexpr int err(hvlab_pv_error e) { return -static_cast<int>(e); }
/// The name of a (negated) error code, for traces: "EINVAL", or "ok" for 0 and up.
const char* error_name(int rc);
/// What a (negated) error code means, in the words of the ABI header.
const char* error_text(int rc);

}  // namespace hvlab::lab03

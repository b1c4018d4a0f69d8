#pragma once
// The APIC bus between the I/O APIC and the local APIC: interrupt messages one way, EOI
// broadcasts the other (Intel SDM vol. 3A, chapter 10; 82093AA I/O APIC data sheet, order
// no. 290566). On a real board these travel over the system bus; here they are two small
// interfaces, so a test can stand in for either side.

#include <cstdint>

namespace hvlab::dev {

/// The delivery mode of an interrupt message (the encoding shared by the I/O APIC's
/// redirection entries, the LVT and the ICR, SDM 10.5.1 and 10.6.1).
enum class ApicDelivery : std::uint8_t {
  fixed = 0,
  lowest_priority = 1,
  smi = 2,
  nmi = 4,
  init = 5,
  startup = 6,
  extint = 7,
};

/// One interrupt message on the APIC bus.
struct ApicMessage {
  std::uint8_t vector = 0;
  ApicDelivery mode = ApicDelivery::fixed;
  bool level_triggered = false;  ///< the receiver sets TMR and later broadcasts the EOI
  bool logical = false;          ///< destination is a logical mask (else an APIC ID)
  std::uint8_t destination = 0;  ///< APIC ID, or logical mask; 0xFF is everyone
};

/// A local APIC as a message receiver.
class ApicMessageSink {
 public:
  /// Offer `message`; true if this APIC is a destination and accepted it.
  virtual bool deliver(const ApicMessage& message) = 0;

 protected:
  ~ApicMessageSink() = default;
};

/// An I/O APIC as the receiver of the local APIC's EOI broadcast: sent when software ends a
/// level-triggered interrupt (its TMR bit set), so the I/O APIC can clear Remote IRR.
class EoiSink {
 public:
  /// The local APIC finished servicing the level-triggered interrupt `vector`.
  virtual void end_of_interrupt(std::uint8_t vector) = 0;

 protected:
  ~EoiSink() = default;
};

}  // namespace hvlab::dev

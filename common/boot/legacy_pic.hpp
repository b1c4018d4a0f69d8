#pragma once
// Drivers for the real (or emulated) 8259A PICs and 8254 PIT, as a kernel programs them.
// The device models a monitor emulates are in common/devices/.

#include <cstdint>

namespace hvlab::pic {

/// ICW1-ICW4: cascade mode, vectors base..base+15, all lines masked.
void remap(std::uint8_t master_base, std::uint8_t slave_base);
void mask(unsigned irq);
void unmask(unsigned irq);
void set_masks(std::uint16_t mask);  ///< bit n masks IRQ n
std::uint16_t masks();
/// Non-specific EOI to the PIC (both, for IRQ 8-15).
void eoi(unsigned irq);
/// OCW3 reads of the in-service and request registers (bit n = IRQ n).
std::uint16_t read_isr();
std::uint16_t read_irr();

}  // namespace hvlab::pic

namespace hvlab::pit {

inline constexpr std::uint32_t kInputHz = 1193182;
/// Channel 0, mode 2 (rate generator) at about `hz`.
void start_periodic(std::uint32_t hz);
/// Channel 0 one-shot (mode 0) of `count` input ticks.
void start_one_shot(std::uint16_t count);
/// Latches and reads channel 0's count.
std::uint16_t read_count();
/// The time-stamp counter's rate in Hz, measured against channel 2 over 10 ms (its gate and
/// output sit in port 0x61); 0 if channel 2 never counted down.
std::uint64_t measure_tsc_hz();

}  // namespace hvlab::pit

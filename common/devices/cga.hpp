#pragma once
// The colour text display of a PC: the CGA text buffer at 0xB8000 (80x25 cells of a character
// byte and an attribute byte) and the CRT controller's index/data ports at 0x3D4/0x3D5 (a
// Motorola 6845 on the CGA, its superset on VGA), through which software sets the cursor
// position (registers 0x0E/0x0F), the cursor shape (0x0A/0x0B) and the display start (0x0C/
// 0x0D). Guests that print to the screen read the cursor position back, so a register must
// read as written (xv6's console panics on 0xFF).
//
// The buffer can live in the device (attach it to the MMIO bus: every guest access traps) or
// in guest RAM the monitor maps normally (pass its host pointer: no trap, and the monitor
// reads the screen from memory). Either way screen_text() gives the monitor the text, for
// tests and for mirroring the screen on its console.

#include <cstddef>
#include <cstdint>

#include "common/devices/bus.hpp"

namespace hvlab::dev {

class CgaText;

/// The CRT controller at 0x3D4 (offset 0, index) and 0x3D5 (offset 1, data). Registers
/// 0x00-0x18 read back what was last written; other indices read 0 and ignore writes. A
/// 16-bit write at 0x3D4 writes the index (low byte) and then the data (high byte), as the
/// bus splits it on a PC.
class Crtc final : public Device {
 public:
  static constexpr unsigned kRegisters = 0x19;
  /// Register indices.
  enum Reg : std::uint8_t {
    kCursorStart = 0x0a,
    kCursorEnd = 0x0b,
    kStartAddressHigh = 0x0c,
    kStartAddressLow = 0x0d,
    kCursorLocationHigh = 0x0e,
    kCursorLocationLow = 0x0f,
  };

  Result<std::uint32_t> read(std::uint32_t offset, unsigned size) override;
  Status write(std::uint32_t offset, unsigned size, std::uint32_t value) override;

  /// Register `index` (0 for indices past 0x18).
  std::uint8_t reg(std::uint8_t index) const { return index < kRegisters ? regs_[index] : 0; }
  std::uint8_t index() const { return index_; }
  /// The cursor location, in character cells from the start of the buffer.
  std::uint16_t cursor() const {
    return static_cast<std::uint16_t>(regs_[kCursorLocationHigh] << 8 | regs_[kCursorLocationLow]);
  }
  /// The display start address, in character cells.
  std::uint16_t start_address() const {
    return static_cast<std::uint16_t>(regs_[kStartAddressHigh] << 8 | regs_[kStartAddressLow]);
  }

 private:
  friend class CgaText;
  Crtc() = default;
  std::uint8_t index_ = 0;
  std::uint8_t regs_[kRegisters] = {};
};

/// The text buffer and its CRT controller.
class CgaText final : public Device {
 public:
  static constexpr std::uint64_t kBase = 0xb8000;
  /// The CGA's 16 KiB of video memory (four 80x25 pages).
  static constexpr std::uint32_t kVramSize = 0x4000;
  static constexpr std::uint16_t kCrtcPort = 0x3d4;
  static constexpr unsigned kColumns = 80;
  static constexpr unsigned kRows = 25;
  /// What screen_text() writes at most: kRows lines of kColumns characters and a newline,
  /// and the terminating NUL.
  static constexpr std::size_t kScreenTextSize = kRows * (kColumns + 1) + 1;

  /// A buffer of its own, cleared to blanks (space, light grey on black).
  CgaText();
  /// The buffer is `vram` (kVramSize bytes, e.g. guest RAM at 0xB8000 seen by the monitor),
  /// which must outlive the device. Its contents are left as they are.
  explicit CgaText(std::uint8_t* vram);
  CgaText(const CgaText&) = delete;
  CgaText& operator=(const CgaText&) = delete;

  /// From now on the buffer is `vram` (kVramSize bytes of guest RAM the monitor maps at
  /// 0xB8000, so the guest's writes need no trap), which must outlive the device. Its
  /// contents are left as they are.
  void use_vram(std::uint8_t* vram) { vram_ = vram; }
  /// Whether the buffer is the device's own (attached to an MMIO bus) rather than guest RAM.
  bool owns_buffer() const { return vram_ == own_; }

  /// Attach the buffer at 0xB8000 on `mmio` (skip this when the buffer is guest RAM) and the
  /// CRT controller at 0x3D4-0x3D5 on `ports`. All or nothing.
  Status attach(PortBus& ports, MmioBus* mmio);

  /// Buffer reads and writes of 1, 2 or 4 bytes, anywhere in the 16 KiB.
  Result<std::uint32_t> read(std::uint32_t offset, unsigned size) override;
  Status write(std::uint32_t offset, unsigned size, std::uint32_t value) override;

  /// Register values as a PC BIOS leaves them in text mode 3 (80x25, 16-line cells): the
  /// cursor an underline on lines 13-14 at the top left, display start 0.
  void bios_init();

  Crtc& crtc() { return crtc_; }
  const Crtc& crtc() const { return crtc_; }

  /// The cell (character | attribute << 8) at `row`, `column` of the displayed page (from the
  /// CRTC's start address); 0 outside the screen.
  std::uint16_t cell(unsigned row, unsigned column) const;
  /// Row `row` of the screen as text into `out` (kColumns + 1 bytes): trailing blanks
  /// dropped, NUL-terminated; non-printable bytes become '.'. Returns its length.
  std::size_t row_text(unsigned row, char* out) const;
  /// The whole screen: each row as row_text() gives it, followed by '\n', then a NUL; at
  /// most kScreenTextSize bytes. Trailing blank rows are dropped. Returns the length
  /// without the NUL; Error::out_of_memory if it does not fit in `capacity` bytes (`out`
  /// then holds an empty string, if capacity allows one).
  Result<std::size_t> screen_text(char* out, std::size_t capacity) const;
  /// Counts buffer writes through this device (not those straight into guest RAM), so a
  /// console mirror knows when to look again.
  std::uint64_t writes() const { return writes_; }

 private:
  std::uint8_t own_[kVramSize];
  std::uint8_t* vram_;
  Crtc crtc_;
  std::uint64_t writes_ = 0;
};

}  // namespace hvlab::dev

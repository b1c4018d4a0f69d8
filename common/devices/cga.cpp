// CGA text buffer and CRT controller.

#include "common/devices/cga.hpp"

namespace hvlab::dev {

// ---- CRT controller ------------------------------------------------------------------------

Result<std::uint32_t> Crtc::read(std::uint32_t offset, unsigned size) {
  if (offset > 1) return Error::not_found;
  if (size != 1) return Error::unsupported;
  return std::uint32_t{offset == 0 ? index_ : reg(index_)};
}

Status Crtc::write(std::uint32_t offset, unsigned size, std::uint32_t value) {
  if (offset > 1) return Error::not_found;
  if (size == 2 && offset == 0) {
    // OUT DX, AX to 0x3D4: the index byte to 0x3D4, then the data byte to 0x3D5.
    HV_TRY(write(0, 1, value & 0xff));
    return write(1, 1, (value >> 8) & 0xff);
  }
  if (size != 1) return Error::unsupported;
  const std::uint8_t v = static_cast<std::uint8_t>(value);
  if (offset == 0) {
    index_ = v;
  } else if (index_ < kRegisters) {
    regs_[index_] = v;
  }
  return {};
}

// ---- Text buffer ---------------------------------------------------------------------------

CgaText::CgaText() : vram_(own_) {
  for (std::uint32_t i = 0; i < kVramSize; i += 2) {
    own_[i] = ' ';
    own_[i + 1] = 0x07;
  }
}

CgaText::CgaText(std::uint8_t* vram) : own_{}, vram_(vram) {}

Status CgaText::attach(PortBus& ports, MmioBus* mmio) {
  HV_TRY(ports.attach(kCrtcPort, 2, crtc_));
  if (mmio) {
    Status s = mmio->attach(GuestPhysAddr(kBase), kVramSize, *this);
    if (!s.ok()) {
      (void)ports.detach(crtc_);
      return s;
    }
  }
  return {};
}

void CgaText::bios_init() {
  // VGA mode 3's CRTC registers 0x00-0x18.
  static constexpr std::uint8_t kMode3[Crtc::kRegisters] = {
      0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e, 0x00,
      0x00, 0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff};
  for (unsigned i = 0; i < Crtc::kRegisters; ++i) crtc_.regs_[i] = kMode3[i];
  crtc_.index_ = 0;
}

Result<std::uint32_t> CgaText::read(std::uint32_t offset, unsigned size) {
  if (!valid_access_size(size)) return Error::invalid_argument;
  if (offset >= kVramSize || size > kVramSize - offset) return Error::not_found;
  std::uint32_t v = 0;
  for (unsigned i = 0; i < size; ++i) v |= std::uint32_t{vram_[offset + i]} << (8 * i);
  return v;
}

Status CgaText::write(std::uint32_t offset, unsigned size, std::uint32_t value) {
  if (!valid_access_size(size)) return Error::invalid_argument;
  if (offset >= kVramSize || size > kVramSize - offset) return Error::not_found;
  for (unsigned i = 0; i < size; ++i) vram_[offset + i] = static_cast<std::uint8_t>(value >> (8 * i));
  ++writes_;
  return {};
}

std::uint16_t CgaText::cell(unsigned row, unsigned column) const {
  if (row >= kRows || column >= kColumns) return 0;
  // The displayed page starts at the CRTC start address; the buffer wraps at 16 KiB.
  const std::uint32_t index = crtc_.start_address() + row * kColumns + column;
  const std::uint32_t at = (index * 2) % kVramSize;
  return static_cast<std::uint16_t>(vram_[at] | vram_[at + 1] << 8);
}

std::size_t CgaText::row_text(unsigned row, char* out) const {
  std::size_t len = 0;
  for (unsigned c = 0; c < kColumns; ++c) {
    const std::uint8_t ch = static_cast<std::uint8_t>(cell(row, c));
    out[c] = (ch >= 0x20 && ch < 0x7f) ? static_cast<char>(ch) : (ch == 0 ? ' ' : '.');
    if (out[c] != ' ') len = c + 1;
  }
  out[len] = '\0';
  return len;
}

Result<std::size_t> CgaText::screen_text(char* out, std::size_t capacity) const {
  if (capacity == 0) return Error::out_of_memory;
  out[0] = '\0';
  char line[kColumns + 1];
  unsigned rows = kRows;
  while (rows > 0 && row_text(rows - 1, line) == 0) --rows;  // drop trailing blank rows
  std::size_t n = 0;
  for (unsigned r = 0; r < rows; ++r) {
    const std::size_t len = row_text(r, line);
    if (n + len + 2 > capacity) {
      out[0] = '\0';
      return Error::out_of_memory;
    }
    for (std::size_t i = 0; i < len; ++i) out[n++] = line[i];
    out[n++] = '\n';
  }
  out[n] = '\0';
  return n;
}

}  // namespace hvlab::dev

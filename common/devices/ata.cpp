// ATA/IDE channel, PIO only. Protocol names are ATA/ATAPI-6's (PIO data-in, PIO data-out,
// non-data).

#include "common/devices/ata.hpp"

#include "common/runtime/string.hpp"

namespace hvlab::dev {

namespace {

constexpr std::uint64_t kLba28Limit = std::uint64_t{1} << 28;
constexpr std::uint8_t kReady = AtaChannel::kStatusDrdy | AtaChannel::kStatusDsc;

// ATA strings put the first character of each pair in the high byte of a word, padded with
// spaces (ATA-6 IDENTIFY DEVICE, words 10-19, 23-26, 27-46).
void put_string(std::uint16_t* words, unsigned count, const char* s) {
  for (unsigned i = 0; i < count * 2; ++i) {
    const char c = *s ? *s++ : ' ';
    const unsigned shift = (i & 1) ? 0 : 8;
    words[i / 2] = static_cast<std::uint16_t>((words[i / 2] & ~(0xffu << shift)) |
                                              (static_cast<std::uint8_t>(c) << shift));
  }
}

}  // namespace

// ---- Control block --------------------------------------------------------------------------

Result<std::uint32_t> AtaControlPort::read(std::uint32_t offset, unsigned size) {
  if (size != 1) return Error::unsupported;
  if (offset != 0) return Error::not_found;
  return std::uint32_t{channel_.read_status(false)};
}

Status AtaControlPort::write(std::uint32_t offset, unsigned size, std::uint32_t value) {
  if (size != 1) return Error::unsupported;
  if (offset != 0) return Error::not_found;
  channel_.write_control(static_cast<std::uint8_t>(value));
  return {};
}

// ---- Channel -------------------------------------------------------------------------------

AtaChannel::AtaChannel(IrqSink* irq, unsigned irq_line) : irq_(irq), irq_line_(irq_line), control_(*this) {
  power_on();
}

Status AtaChannel::attach(PortBus& bus) {
  HV_TRY(bus.attach(kPrimaryCommandBase, 8, *this));
  Status s = bus.attach(kPrimaryControlPort, 1, control_);
  if (!s.ok()) {
    (void)bus.detach(*this);
    return s;
  }
  return {};
}

Status AtaChannel::set_drive(unsigned drive, BlockStore* store) {
  if (drive > 1) return Error::invalid_argument;
  if (store && store->sector_count() > kLba28Limit) return Error::invalid_argument;
  drives_[drive].store = store;
  power_on();
  return {};
}

void AtaChannel::geometry(unsigned drive, unsigned* cylinders, unsigned* heads, unsigned* sectors) const {
  const Drive& d = drives_[drive > 1 ? 0 : drive];
  if (cylinders) *cylinders = d.cylinders;
  if (heads) *heads = d.heads;
  if (sectors) *sectors = d.sectors;
}

void AtaChannel::reset_drive(Drive& d) {
  d.xfer = Xfer::none;
  d.irq_pending = false;
  d.status = kReady;  // an absent device 0 answers as ready too (see the header)
  d.error = kDiagnosticPassed;
}

void AtaChannel::set_signature() {
  // The ATA device signature: count 1, LBA 1/0/0, device 0. DEV = 0 selects
  // device 0 again.
  count_ = 1;
  lba_low_ = 1;
  lba_mid_ = 0;
  lba_high_ = 0;
  device_ = 0;
}

void AtaChannel::power_on() {
  for (Drive& d : drives_) {
    reset_drive(d);
    d.multiple = 0;  // disabled after power-on (SET MULTIPLE MODE)
    // A logical geometry for CHS addressing that never exceeds the disk: 16 heads and 63
    // sectors per track where the disk is big enough, one head otherwise.
    const std::uint64_t total = d.store ? d.store->sector_count() : 0;
    std::uint64_t heads = 16, spt = 63, cyl = total / (16 * 63);
    if (cyl == 0) {
      heads = 1;
      spt = total < 63 ? total : 63;
      cyl = spt ? total / spt : 0;
    }
    if (cyl > 16383) cyl = 16383;
    d.cylinders = d.cur_cylinders = static_cast<std::uint16_t>(cyl);
    d.heads = d.cur_heads = static_cast<std::uint16_t>(heads);
    d.sectors = d.cur_sectors = static_cast<std::uint16_t>(spt);
  }
  features_ = 0;
  control_reg_ = 0;
  set_signature();
  update_irq();
}

void AtaChannel::update_irq() {
  // Only the selected device drives INTRQ, and not while nIEN is set.
  const bool level = !(control_reg_ & kControlNien) && cur().irq_pending && cur().store != nullptr;
  if (level == irq_level_) return;
  irq_level_ = level;
  if (irq_) irq_->set_irq(irq_line_, level);
}

void AtaChannel::complete(Drive& d, std::uint8_t status, std::uint8_t error) {
  d.xfer = Xfer::none;
  d.status = status;
  d.error = error;
  d.irq_pending = true;
  update_irq();
}

void AtaChannel::write_control(std::uint8_t value) {
  const bool was_reset = (control_reg_ & kControlSrst) != 0;
  control_reg_ = value & (kControlNien | kControlSrst);
  if (control_reg_ & kControlSrst) {
    // Holding SRST: both devices are busy and stop whatever they were doing.
    for (Drive& d : drives_) {
      d.xfer = Xfer::none;
      d.irq_pending = false;
      d.status = kStatusBsy;
    }
  } else if (was_reset) {
    // Releasing it: both come back ready, with the signature and diagnostic code, and no
    // interrupt.
    for (Drive& d : drives_) reset_drive(d);
    set_signature();
  }
  update_irq();
}

std::uint8_t AtaChannel::read_status(bool acknowledge) {
  if (!any_present()) return 0xff;
  Drive& d = cur();
  if (!d.store && selected() == 1) return 0x00;  // device 0 answers for an absent device 1
  const std::uint8_t s = d.status;
  if (acknowledge && d.irq_pending) {
    d.irq_pending = false;  // reading Status is the interrupt acknowledge
    update_irq();
  }
  return s;
}

// ---- Addressing ----------------------------------------------------------------------------

bool AtaChannel::decode_address(const Drive& d, std::uint64_t* lba) const {
  if (device_ & kDeviceLba) {
    *lba = (std::uint64_t{device_ & 0x0fu} << 24) | (std::uint64_t{lba_high_} << 16) |
           (std::uint64_t{lba_mid_} << 8) | lba_low_;
    return true;
  }
  // CHS: LBA = (C * heads + H) * sectors + S - 1, with the current geometry.
  const unsigned c = lba_mid_ | (lba_high_ << 8), h = device_ & 0x0f, s = lba_low_;
  if (s == 0 || s > d.cur_sectors || h >= d.cur_heads || c >= d.cur_cylinders) return false;
  *lba = (std::uint64_t{c} * d.cur_heads + h) * d.cur_sectors + (s - 1);
  return true;
}

void AtaChannel::set_address(const Drive& d, std::uint64_t lba) {
  // After each block the registers name the last sector transferred (or the failing one).
  if (d.lba_mode) {
    lba_low_ = static_cast<std::uint8_t>(lba);
    lba_mid_ = static_cast<std::uint8_t>(lba >> 8);
    lba_high_ = static_cast<std::uint8_t>(lba >> 16);
    device_ = static_cast<std::uint8_t>((device_ & 0xf0) | ((lba >> 24) & 0x0f));
  } else if (d.cur_sectors && d.cur_heads) {
    const std::uint64_t track = lba / d.cur_sectors;
    const unsigned c = static_cast<unsigned>(track / d.cur_heads);
    lba_low_ = static_cast<std::uint8_t>(lba % d.cur_sectors + 1);
    lba_mid_ = static_cast<std::uint8_t>(c);
    lba_high_ = static_cast<std::uint8_t>(c >> 8);
    device_ = static_cast<std::uint8_t>((device_ & 0xf0) | (track % d.cur_heads));
  }
}

// ---- Commands ------------------------------------------------------------------------------

void AtaChannel::command(std::uint8_t cmd) {
  if (!any_present() || (control_reg_ & kControlSrst)) return;  // nobody, or held in reset
  if (cmd == kExecuteDeviceDiagnostic) {
    // Addressed to both devices whatever DEV says; device 0 reports for the pair and
    // interrupts.
    for (Drive& d : drives_) reset_drive(d);
    set_signature();
    drives_[0].irq_pending = true;
    update_irq();
    return;
  }
  Drive& d = cur();
  if (!d.store) {
    if (selected() == 0) abort(d);  // a phantom device 0 rejects everything
    return;                         // an absent device 1 hears nothing
  }
  d.irq_pending = false;  // writing the command register clears a pending interrupt
  d.xfer = Xfer::none;
  update_irq();
  execute(d, cmd);
}

void AtaChannel::execute(Drive& d, std::uint8_t cmd) {
  const std::uint32_t count = count_ == 0 ? 256u : count_;
  switch (cmd) {
    case kIdentifyDevice:
      identify(d);
      return;
    case kReadSectors:
    case kReadSectorsNoRetry:
      start_transfer(d, Xfer::data_in, 1);
      return;
    case kWriteSectors:
    case kWriteSectorsNoRetry:
      start_transfer(d, Xfer::data_out, 1);
      return;
    case kReadMultiple:
    case kWriteMultiple:
      if (d.multiple == 0) return abort(d);  // multiple mode not enabled
      start_transfer(d, cmd == kReadMultiple ? Xfer::data_in : Xfer::data_out, d.multiple);
      return;
    case kReadVerifySectors:
    case kReadVerifySectorsNoRetry: {
      std::uint64_t lba = 0;
      if (!decode_address(d, &lba) || lba + count > d.store->sector_count()) {
        return complete(d, kReady | kStatusErr, kErrorIdnf);
      }
      return complete(d, kReady);
    }
    case kSetMultipleMode:
      // A power of two up to kMaxMultiple, or 0 to disable.
      if (count_ > kMaxMultiple || (count_ & (count_ - 1)) != 0) return abort(d);
      d.multiple = count_;
      return complete(d, kReady);
    case kInitializeDeviceParameters: {
      // Heads from the device register (+1), sectors per track from the count.
      const unsigned heads = (device_ & 0x0f) + 1u, spt = count_;
      if (spt == 0) return abort(d);
      const std::uint64_t cyl = d.store->sector_count() / (heads * spt);
      d.cur_heads = static_cast<std::uint16_t>(heads);
      d.cur_sectors = static_cast<std::uint16_t>(spt);
      d.cur_cylinders = static_cast<std::uint16_t>(cyl > 65535 ? 65535 : cyl);
      return complete(d, kReady);
    }
    case kSetFeatures:
      switch (features_) {
        case 0x03:  // set transfer mode: PIO default (0x00, 0x01) or flow control 0-4
          if (count_ <= 0x01 || (count_ >= 0x08 && count_ <= 0x0c)) return complete(d, kReady);
          return abort(d);  // DMA modes: there is no DMA
        case 0x02: case 0x82:  // write cache on/off
        case 0xaa: case 0x55:  // read look-ahead on/off
        case 0x66: case 0xcc:  // keep settings / revert to defaults over a reset
          return complete(d, kReady);
        default: return abort(d);
      }
    case kCheckPowerMode:
    case kCheckPowerModeOld:
      count_ = 0xff;  // active or idle
      return complete(d, kReady);
    case kFlushCache:
    case 0x94: case 0x95: case 0x96: case 0x97:  // standby/idle immediate, standby, idle (old codes)
    case 0xe0: case 0xe1: case 0xe2: case 0xe3:  // the same, current codes
      return complete(d, kReady);
    default:
      if ((cmd & 0xf0) == kRecalibrate) return complete(d, kReady);
      return abort(d);  // DMA, LBA48, packet, security...: not offered
  }
}

void AtaChannel::start_transfer(Drive& d, Xfer dir, std::uint32_t per_block) {
  const std::uint32_t count = count_ == 0 ? 256u : count_;
  std::uint64_t lba = 0;
  // An address outside the disk is rejected before any data moves.
  if (!decode_address(d, &lba) || lba + count > d.store->sector_count()) {
    return complete(d, kReady | kStatusErr, kErrorIdnf);
  }
  d.lba_mode = (device_ & kDeviceLba) != 0;
  d.lba = lba;
  d.remaining = count;
  d.block = count < per_block ? count : per_block;
  d.pos = 0;
  d.xfer = dir;
  d.reading_store = true;
  if (dir == Xfer::data_in) {
    load_block(d);
  } else {
    // PIO data-out: DRQ for the first block at once, without an interrupt.
    d.status = kReady | kStatusDrq;
    d.error = 0;
  }
}

void AtaChannel::load_block(Drive& d) {
  for (std::uint32_t i = 0; i < d.block; ++i) {
    Status s = d.store->read_sector(d.lba + i, d.buffer + i * kSectorSize);
    if (!s.ok()) {
      set_address(d, d.lba + i);
      return complete(d, kReady | kStatusErr, kErrorUnc);
    }
  }
  set_address(d, d.lba + d.block - 1);
  count_ = static_cast<std::uint8_t>(d.remaining);
  d.pos = 0;
  d.xfer = Xfer::data_in;
  // PIO data-in: each block is announced by DRQ and an interrupt.
  d.status = kReady | kStatusDrq;
  d.error = 0;
  d.irq_pending = true;
  update_irq();
}

void AtaChannel::commit_block(Drive& d) {
  for (std::uint32_t i = 0; i < d.block; ++i) {
    Status s = d.store->write_sector(d.lba + i, d.buffer + i * kSectorSize);
    if (!s.ok()) {
      // The store refused (the copy-on-write overlay is full): a device fault, so the guest
      // sees a failed write rather than data silently lost.
      last_fault_ = s.error() == Error::out_of_memory ? "disk write refused: the copy-on-write overlay is full"
                                                      : "disk write refused by the block store";
      last_fault_lba_ = d.lba + i;
      set_address(d, d.lba + i);
      return complete(d, kReady | kStatusDf | kStatusErr, kErrorAbrt);
    }
    ++sectors_written_;
  }
  set_address(d, d.lba + d.block - 1);
  d.lba += d.block;
  d.remaining -= d.block;
  count_ = static_cast<std::uint8_t>(d.remaining);
  if (d.remaining == 0) return complete(d, kReady);
  // PIO data-out: every later block is requested with DRQ and an interrupt.
  d.block = d.remaining < d.block ? d.remaining : d.block;
  d.pos = 0;
  d.status = kReady | kStatusDrq;
  d.irq_pending = true;
  update_irq();
}

void AtaChannel::identify(Drive& d) {
  std::uint16_t w[256] = {};
  const std::uint64_t total = d.store->sector_count();
  w[0] = 0x0040;  // ATA device, not removable
  w[1] = d.cylinders;
  w[3] = d.heads;
  w[6] = d.sectors;
  put_string(&w[10], 10, "HVLAB0000000000001");
  put_string(&w[23], 4, "1.0");
  put_string(&w[27], 20, "hvlab ATA disk");
  w[47] = 0x8000 | kMaxMultiple;  // READ/WRITE MULTIPLE up to 16 sectors per block
  w[49] = 1u << 9;                // LBA supported; no DMA
  w[50] = 0x4000;
  w[51] = 0x0200;  // PIO data transfer cycle timing mode 2
  w[53] = 0x0003;  // words 54-58 and 64-70 are valid
  w[54] = d.cur_cylinders;
  w[55] = d.cur_heads;
  w[56] = d.cur_sectors;
  const std::uint32_t chs = std::uint32_t{d.cur_cylinders} * d.cur_heads * d.cur_sectors;
  w[57] = static_cast<std::uint16_t>(chs);
  w[58] = static_cast<std::uint16_t>(chs >> 16);
  w[59] = d.multiple ? static_cast<std::uint16_t>(0x0100 | d.multiple) : 0;
  w[60] = static_cast<std::uint16_t>(total);  // LBA28 sectors
  w[61] = static_cast<std::uint16_t>(total >> 16);
  w[64] = 0x0003;  // PIO modes 3 and 4
  w[65] = w[66] = w[67] = w[68] = 120;  // cycle times in ns
  w[80] = 0x007e;  // ATA-1 to ATA-6
  w[82] = 1u << 5;  // write cache
  w[83] = 0x4000;   // bit 14 shall be one; no LBA48
  w[84] = 0x4000;
  w[85] = 1u << 5;
  w[86] = 0x0000;
  w[87] = 0x4000;
  // Word 255: signature 0xA5 and a checksum making the 512 bytes sum to zero.
  w[255] = 0x00a5;
  std::uint8_t sum = 0;
  for (unsigned i = 0; i < 255; ++i) sum = static_cast<std::uint8_t>(sum + (w[i] & 0xff) + (w[i] >> 8));
  sum = static_cast<std::uint8_t>(sum + 0xa5);
  w[255] = static_cast<std::uint16_t>(0x00a5 | (static_cast<std::uint8_t>(-sum) << 8));
  for (unsigned i = 0; i < 256; ++i) {  // little-endian words on the data bus
    d.buffer[2 * i] = static_cast<std::uint8_t>(w[i]);
    d.buffer[2 * i + 1] = static_cast<std::uint8_t>(w[i] >> 8);
  }
  d.remaining = 1;
  d.block = 1;
  d.pos = 0;
  d.xfer = Xfer::data_in;
  d.reading_store = false;
  d.status = kReady | kStatusDrq;
  d.error = 0;
  d.irq_pending = true;
  update_irq();
}

// ---- Data register -------------------------------------------------------------------------

std::uint16_t AtaChannel::data_in_word() {
  Drive& d = cur();
  if (!d.store || d.xfer != Xfer::data_in) return 0;  // no DRQ: nothing is driven
  const std::uint16_t w = static_cast<std::uint16_t>(d.buffer[d.pos] | (d.buffer[d.pos + 1] << 8));
  d.pos += 2;
  if (d.pos < d.block * kSectorSize) return w;
  // The block is drained.
  if (d.reading_store) sectors_read_ += d.block;
  d.remaining -= d.block;
  if (d.remaining == 0) {
    d.xfer = Xfer::none;
    d.status = kReady;  // no interrupt at the end of a data-in command
    return w;
  }
  d.lba += d.block;
  d.block = d.remaining < d.block ? d.remaining : d.block;
  load_block(d);
  return w;
}

void AtaChannel::data_out_word(std::uint16_t w) {
  Drive& d = cur();
  if (!d.store || d.xfer != Xfer::data_out) return;  // ignored without DRQ
  d.buffer[d.pos] = static_cast<std::uint8_t>(w);
  d.buffer[d.pos + 1] = static_cast<std::uint8_t>(w >> 8);
  d.pos += 2;
  if (d.pos == d.block * kSectorSize) commit_block(d);
}

// ---- Register access -----------------------------------------------------------------------

Result<std::uint32_t> AtaChannel::read(std::uint32_t offset, unsigned size) {
  if (offset > kStatus) return Error::not_found;
  if (offset == kData) {
    if (size == 1) return Error::unsupported;  // 8-bit PIO is not offered
    if (!any_present()) return floating_bus_value(size);
    std::uint32_t v = data_in_word();
    if (size == 4) v |= std::uint32_t{data_in_word()} << 16;
    return v;
  }
  if (size != 1) return Error::unsupported;
  if (!any_present()) return std::uint32_t{0xff};
  switch (offset) {
    case kError: {
      const Drive& d = cur();
      return std::uint32_t{d.store || selected() == 0 ? d.error : std::uint8_t{0}};
    }
    case kSectorCount: return std::uint32_t{count_};
    case kLbaLow: return std::uint32_t{lba_low_};
    case kLbaMid: return std::uint32_t{lba_mid_};
    case kLbaHigh: return std::uint32_t{lba_high_};
    case kDevice: return std::uint32_t{device_} | 0xa0u;  // bits 7 and 5 are obsolete ones
    default: return std::uint32_t{read_status(true)};
  }
}

Status AtaChannel::write(std::uint32_t offset, unsigned size, std::uint32_t value) {
  if (offset > kCommand) return Error::not_found;
  if (offset == kData) {
    if (size == 1) return Error::unsupported;
    data_out_word(static_cast<std::uint16_t>(value));
    if (size == 4) data_out_word(static_cast<std::uint16_t>(value >> 16));
    return {};
  }
  if (size != 1) return Error::unsupported;
  const std::uint8_t v = static_cast<std::uint8_t>(value);
  // The command block registers are written to both devices.
  switch (offset) {
    case kFeatures: features_ = v; break;
    case kSectorCount: count_ = v; break;
    case kLbaLow: lba_low_ = v; break;
    case kLbaMid: lba_mid_ = v; break;
    case kLbaHigh: lba_high_ = v; break;
    case kDevice:
      device_ = v & 0x5f;  // DEV, LBA and the address nibble; 7 and 5 read back as ones
      update_irq();        // INTRQ follows the selected device
      break;
    default: command(v); break;
  }
  return {};
}

}  // namespace hvlab::dev

#pragma once
// One ATA/IDE channel in PIO mode, as on a PC's primary channel: the command block at
// 0x1F0-0x1F7, the control block (alternate status / device control) at 0x3F6, IRQ 14, and
// up to two drives (device 0, "master", and device 1, "slave") backed by BlockStores.
// Register and protocol behaviour follows ATA/ATAPI-6 (T13 1410D): the PIO data-in and
// data-out protocols (one DRQ block per sector, or per READ/WRITE MULTIPLE block), status and
// error bits, nIEN and SRST, and the reset signature.
//
// Commands: IDENTIFY DEVICE, READ/WRITE SECTORS (LBA28 or CHS), READ/WRITE MULTIPLE with SET
// MULTIPLE MODE, READ VERIFY SECTORS, INITIALIZE DEVICE PARAMETERS, EXECUTE DEVICE DIAGNOSTIC,
// SET FEATURES (PIO transfer modes, cache settings), FLUSH CACHE, CHECK POWER MODE, the
// idle/standby commands and RECALIBRATE. Anything else (DMA, LBA48, packet commands) is
// aborted (status ERR, error ABRT). Every command completes at once: BSY is only seen while
// SRST is held.
//
// A drive slot left empty behaves as on QEMU and Bochs: an absent device 1 reads status 0x00
// (device 0 answers for it) and ignores commands; an absent device 0 beside a
// present device 1 reads as ready and aborts every command (xv6, booted with its file system
// as device 1, waits for device 0's DRDY first). With no drive at all every register floats
// (0xFF).

#include <cstdint>

#include "common/devices/block_store.hpp"
#include "common/devices/bus.hpp"

namespace hvlab::dev {

class AtaChannel;

/// The control block register at 0x3F6: reads the alternate status (without acknowledging
/// the interrupt), writes the device control register (nIEN, SRST). Byte accesses only.
class AtaControlPort final : public Device {
 public:
  Result<std::uint32_t> read(std::uint32_t offset, unsigned size) override;
  Status write(std::uint32_t offset, unsigned size, std::uint32_t value) override;

 private:
  friend class AtaChannel;
  explicit AtaControlPort(AtaChannel& channel) : channel_(channel) {}
  AtaChannel& channel_;
};

/// The channel and its two drive slots.
class AtaChannel final : public Device {
 public:
  static constexpr std::uint16_t kPrimaryCommandBase = 0x1f0;
  static constexpr std::uint16_t kPrimaryControlPort = 0x3f6;
  static constexpr unsigned kPrimaryIrq = 14;
  /// Largest READ/WRITE MULTIPLE block (IDENTIFY word 47).
  static constexpr unsigned kMaxMultiple = 16;

  /// Command block offsets (read / write names where they differ).
  enum Reg : std::uint32_t {
    kData = 0,
    kError = 1,  ///< read; kFeatures on write
    kSectorCount = 2,
    kLbaLow = 3,   ///< sector number in CHS mode
    kLbaMid = 4,   ///< cylinder low
    kLbaHigh = 5,  ///< cylinder high
    kDevice = 6,   ///< device/head: DEV (bit 4), LBA (bit 6), LBA 27:24 or head (3:0)
    kStatus = 7,   ///< read; kCommand on write
  };
  static constexpr std::uint32_t kFeatures = kError;
  static constexpr std::uint32_t kCommand = kStatus;

  // Status bits.
  static constexpr std::uint8_t kStatusErr = 0x01;
  static constexpr std::uint8_t kStatusDrq = 0x08;
  static constexpr std::uint8_t kStatusDsc = 0x10;  ///< seek complete (obsolete, kept set)
  static constexpr std::uint8_t kStatusDf = 0x20;   ///< device fault
  static constexpr std::uint8_t kStatusDrdy = 0x40;
  static constexpr std::uint8_t kStatusBsy = 0x80;
  // Error bits.
  static constexpr std::uint8_t kErrorAbrt = 0x04;
  static constexpr std::uint8_t kErrorIdnf = 0x10;
  static constexpr std::uint8_t kErrorUnc = 0x40;
  /// The error register's diagnostic code for "device 0 passed, device 1 passed or absent".
  static constexpr std::uint8_t kDiagnosticPassed = 0x01;
  // Device register and device control bits.
  static constexpr std::uint8_t kDeviceDev = 0x10;
  static constexpr std::uint8_t kDeviceLba = 0x40;
  static constexpr std::uint8_t kControlNien = 0x02;
  static constexpr std::uint8_t kControlSrst = 0x04;

  /// Command codes.
  enum Command : std::uint8_t {
    kRecalibrate = 0x10,  ///< 0x10-0x1F
    kReadSectors = 0x20,
    kReadSectorsNoRetry = 0x21,
    kWriteSectors = 0x30,
    kWriteSectorsNoRetry = 0x31,
    kReadVerifySectors = 0x40,
    kReadVerifySectorsNoRetry = 0x41,
    kExecuteDeviceDiagnostic = 0x90,
    kInitializeDeviceParameters = 0x91,
    kCheckPowerModeOld = 0x98,
    kReadMultiple = 0xc4,
    kWriteMultiple = 0xc5,
    kSetMultipleMode = 0xc6,
    kCheckPowerMode = 0xe5,
    kFlushCache = 0xe7,
    kIdentifyDevice = 0xec,
    kSetFeatures = 0xef,
  };

  /// `irq` receives INTRQ on `irq_line` (null: polled only).
  explicit AtaChannel(IrqSink* irq, unsigned irq_line = kPrimaryIrq);
  AtaChannel(const AtaChannel&) = delete;
  AtaChannel& operator=(const AtaChannel&) = delete;

  /// Put a drive backed by `store` in slot `drive` (0 or 1), or empty the slot (null), and
  /// power the channel on again. Error::invalid_argument for another slot number or a store
  /// of more than 2^28 sectors (LBA28 cannot address them); the slot is then unchanged.
  Status set_drive(unsigned drive, BlockStore* store);
  /// Attach the command block at 0x1F0-0x1F7 and the control block at 0x3F6.
  Status attach(PortBus& bus);

  /// Command block reads. Registers 1-7 take byte accesses; the data register 2- and 4-byte
  /// accesses (a 4-byte one moves two words, as 32-bit PIO does).
  Result<std::uint32_t> read(std::uint32_t offset, unsigned size) override;
  /// Command block writes (same widths).
  Status write(std::uint32_t offset, unsigned size, std::uint32_t value) override;

  AtaControlPort& control_port() { return control_; }

  // ---- Inspection ------------------------------------------------------------------------

  /// Whether slot `drive` holds a drive.
  bool present(unsigned drive) const { return drive < 2 && drives_[drive].store != nullptr; }
  /// The status register of `drive` as the alternate status would show it.
  std::uint8_t status(unsigned drive) const { return drive < 2 ? drives_[drive].status : 0; }
  std::uint8_t error(unsigned drive) const { return drive < 2 ? drives_[drive].error : 0; }
  /// The drive DEV selects.
  unsigned selected() const { return (device_ & kDeviceDev) ? 1 : 0; }
  /// INTRQ as driven now.
  bool irq_level() const { return irq_level_; }
  bool interrupts_disabled() const { return (control_reg_ & kControlNien) != 0; }
  /// Sectors moved to and from the guest since construction.
  std::uint64_t sectors_read() const { return sectors_read_; }
  std::uint64_t sectors_written() const { return sectors_written_; }
  /// Why the last write fault happened, for the monitor's log (e.g. the overlay was full);
  /// null if there was none.
  const char* last_fault() const { return last_fault_; }
  /// The sector the last write fault was for.
  std::uint64_t last_fault_lba() const { return last_fault_lba_; }
  /// The logical geometry IDENTIFY reports for `drive` (cylinders, heads, sectors per track).
  void geometry(unsigned drive, unsigned* cylinders, unsigned* heads, unsigned* sectors) const;

 private:
  friend class AtaControlPort;
  enum class Xfer : std::uint8_t { none, data_in, data_out };

  struct Drive {
    BlockStore* store = nullptr;
    std::uint8_t status = 0, error = 0;
    bool irq_pending = false;
    std::uint16_t cylinders = 0, heads = 0, sectors = 0;              // default geometry
    std::uint16_t cur_cylinders = 0, cur_heads = 0, cur_sectors = 0;  // current geometry
    std::uint8_t multiple = 0;  // READ/WRITE MULTIPLE block size; 0: disabled
    Xfer xfer = Xfer::none;
    bool reading_store = false;  // data-in from the disk (else IDENTIFY's buffer)
    bool lba_mode = true;
    std::uint64_t lba = 0;        // first sector of the current block
    std::uint32_t remaining = 0;  // sectors left, the current block included
    std::uint32_t block = 0;      // sectors in the current DRQ block
    std::uint32_t pos = 0;        // bytes of the block transferred
    std::uint8_t buffer[kMaxMultiple * kSectorSize];
  };

  bool any_present() const { return drives_[0].store || drives_[1].store; }
  Drive& cur() { return drives_[selected()]; }
  void power_on();
  void reset_drive(Drive& d);
  void set_signature();
  void update_irq();
  void complete(Drive& d, std::uint8_t status, std::uint8_t error = 0);  // status + interrupt
  void abort(Drive& d) { complete(d, kStatusDrdy | kStatusDsc | kStatusErr, kErrorAbrt); }
  void command(std::uint8_t cmd);
  void execute(Drive& d, std::uint8_t cmd);
  bool decode_address(const Drive& d, std::uint64_t* lba) const;
  void set_address(const Drive& d, std::uint64_t lba);
  void start_transfer(Drive& d, Xfer dir, std::uint32_t per_block);
  void load_block(Drive& d);    // data-in: next block from the store
  void commit_block(Drive& d);  // data-out: the block just written to the store
  void identify(Drive& d);
  std::uint16_t data_in_word();
  void data_out_word(std::uint16_t w);
  void write_control(std::uint8_t value);
  std::uint8_t read_status(bool acknowledge);

  IrqSink* irq_;
  unsigned irq_line_;
  AtaControlPort control_;
  Drive drives_[2];
  std::uint8_t features_ = 0, count_ = 0, lba_low_ = 0, lba_mid_ = 0, lba_high_ = 0, device_ = 0;
  std::uint8_t control_reg_ = 0;
  bool irq_level_ = false;
  std::uint64_t sectors_read_ = 0, sectors_written_ = 0;
  const char* last_fault_ = nullptr;
  std::uint64_t last_fault_lba_ = 0;
};

}  // namespace hvlab::dev

// The ATA channel against ATA/ATAPI-6's register and PIO protocol descriptions, driven through
// the port bus the way a driver (xv6's ide.c among them) drives it.

#include "common/devices/ata.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/devices/tests/test_support.hpp"

namespace hvlab::dev {
namespace {

constexpr unsigned kSectors = 64;

std::uint8_t pattern(std::uint64_t lba, unsigned i) { return static_cast<std::uint8_t>(lba * 7 + i * 3 + (i >> 8)); }

std::vector<std::uint8_t> disk_image() {
  std::vector<std::uint8_t> b(kSectors * kSectorSize);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = pattern(i / kSectorSize, i % kSectorSize);
  return b;
}

struct AtaTest : ::testing::Test {
  PortBus bus;
  test::IrqRecorder irq;
  std::vector<std::uint8_t> bytes = disk_image();
  const std::vector<std::uint8_t> pristine = bytes;
  MemoryImage image{bytes};
  std::unique_ptr<CowStorage<8>> storage = std::make_unique<CowStorage<8>>();
  CowDisk disk{image, storage->pool, storage->index};
  AtaChannel ata{&irq};

  void SetUp() override {
    ASSERT_TRUE(ata.set_drive(0, &disk).ok());
    ASSERT_TRUE(ata.attach(bus).ok());
  }

  void out(std::uint16_t port, std::uint8_t v) { ASSERT_TRUE(bus.write(port, 1, v).ok()) << std::hex << port; }
  std::uint8_t in(std::uint16_t port) {
    Result<std::uint32_t> r = bus.read(port, 1);
    EXPECT_TRUE(r.ok()) << std::hex << port;
    return static_cast<std::uint8_t>(r.value());
  }
  std::uint8_t status() { return in(0x1f7); }
  std::uint8_t alt_status() { return in(0x3f6); }
  std::uint16_t data16() { return static_cast<std::uint16_t>(bus.read(0x1f0, 2).value()); }
  void lba_command(std::uint8_t cmd, std::uint32_t lba, std::uint8_t count, unsigned dev = 0) {
    out(0x1f2, count);
    out(0x1f3, static_cast<std::uint8_t>(lba));
    out(0x1f4, static_cast<std::uint8_t>(lba >> 8));
    out(0x1f5, static_cast<std::uint8_t>(lba >> 16));
    out(0x1f6, static_cast<std::uint8_t>(0xe0 | (dev << 4) | ((lba >> 24) & 0x0f)));
    out(0x1f7, cmd);
  }
  std::vector<std::uint8_t> read_block(unsigned bytes_count) {
    std::vector<std::uint8_t> v;
    for (unsigned i = 0; i < bytes_count / 2; ++i) {
      std::uint16_t w = data16();
      v.push_back(static_cast<std::uint8_t>(w));
      v.push_back(static_cast<std::uint8_t>(w >> 8));
    }
    return v;
  }
  void write_block(const std::vector<std::uint8_t>& v) {
    for (std::size_t i = 0; i < v.size(); i += 2) {
      ASSERT_TRUE(bus.write(0x1f0, 2, v[i] | (v[i + 1] << 8)).ok());
    }
  }
  std::vector<std::uint8_t> expected(std::uint64_t lba) {
    std::vector<std::uint8_t> v(kSectorSize);
    for (unsigned i = 0; i < kSectorSize; ++i) v[i] = pattern(lba, i);
    return v;
  }
  bool intrq() const { return irq.level[AtaChannel::kPrimaryIrq]; }
};

TEST_F(AtaTest, PowerOnLeavesTheSignatureAndAReadyDevice) {
  EXPECT_EQ(status(), 0x50);  // DRDY | DSC
  EXPECT_EQ(in(0x1f1), AtaChannel::kDiagnosticPassed);
  EXPECT_EQ(in(0x1f2), 1);
  EXPECT_EQ(in(0x1f3), 1);
  EXPECT_EQ(in(0x1f4), 0);
  EXPECT_EQ(in(0x1f5), 0);
  EXPECT_EQ(in(0x1f6), 0xa0);  // device 0; obsolete bits 7 and 5 read as ones
  EXPECT_FALSE(intrq());
}

TEST_F(AtaTest, AttachesThePrimaryChannelPortsOnly) {
  for (std::uint16_t p = 0x1f0; p <= 0x1f7; ++p) EXPECT_EQ(bus.device_at(p), &ata);
  EXPECT_EQ(bus.device_at(0x3f6), &ata.control_port());
  EXPECT_EQ(bus.device_at(0x3f7), nullptr);  // shared with the floppy controller's DIR
  EXPECT_EQ(bus.read(0x1f7, 2).error(), Error::unsupported);
  EXPECT_EQ(bus.read(0x1f0, 1).error(), Error::unsupported);  // no 8-bit PIO
  EXPECT_EQ(bus.read(0x3f6, 2).error(), Error::unsupported);
}

TEST_F(AtaTest, IdentifyDeviceDescribesTheDiskInOneDataInBlock) {
  out(0x1f6, 0xa0);
  out(0x1f7, AtaChannel::kIdentifyDevice);
  EXPECT_TRUE(intrq());
  EXPECT_EQ(alt_status(), 0x58);  // DRDY | DSC | DRQ; the alternate status does not acknowledge
  EXPECT_TRUE(intrq());
  EXPECT_EQ(status(), 0x58);
  EXPECT_FALSE(intrq());  // reading Status did
  std::vector<std::uint8_t> b = read_block(512);
  auto word = [&](unsigned i) { return static_cast<unsigned>(b[2 * i] | b[2 * i + 1] << 8); };
  EXPECT_EQ(word(0) & 0x8000, 0u);               // an ATA device
  EXPECT_NE(word(49) & (1u << 9), 0u);           // LBA supported
  EXPECT_EQ(word(49) & (1u << 8), 0u);           // no DMA
  EXPECT_EQ(word(60) | word(61) << 16, kSectors);  // LBA28 capacity
  EXPECT_EQ(word(47) & 0xff, AtaChannel::kMaxMultiple);
  EXPECT_EQ(word(83) & 0xc000, 0x4000u);
  EXPECT_EQ(word(83) & (1u << 10), 0u);  // no LBA48
  std::string model;
  for (unsigned i = 27; i <= 46; ++i) {
    model.push_back(static_cast<char>(word(i) >> 8));
    model.push_back(static_cast<char>(word(i) & 0xff));
  }
  EXPECT_EQ(model.substr(0, 14), "hvlab ATA disk");
  EXPECT_EQ(model.find_first_not_of(' ', 14), std::string::npos);
  unsigned c = 0, h = 0, s = 0;
  ata.geometry(0, &c, &h, &s);
  EXPECT_EQ(word(1), c);
  EXPECT_EQ(word(3), h);
  EXPECT_EQ(word(6), s);
  EXPECT_LE(c * h * s, kSectors);  // the CHS view never runs past the disk
  // Word 255: signature 0xA5 and a checksum that makes all 512 bytes sum to 0.
  EXPECT_EQ(b[510], 0xa5);
  unsigned sum = 0;
  for (std::uint8_t x : b) sum += x;
  EXPECT_EQ(sum % 256, 0u);
  EXPECT_EQ(status(), 0x50);  // the block is drained: DRQ drops
  EXPECT_EQ(data16(), 0u);    // and the data register drives nothing more
}

TEST_F(AtaTest, ReadSectorsTransfersEachSectorAfterItsOwnInterrupt) {
  lba_command(AtaChannel::kReadSectors, 5, 3);
  for (std::uint64_t lba = 5; lba < 8; ++lba) {
    EXPECT_TRUE(intrq()) << lba;
    EXPECT_EQ(status(), 0x58) << lba;
    EXPECT_FALSE(intrq());
    EXPECT_EQ(read_block(512), expected(lba)) << lba;
  }
  EXPECT_EQ(status(), 0x50);
  EXPECT_FALSE(intrq());  // no interrupt after the last data-in block
  EXPECT_EQ(irq.rises[AtaChannel::kPrimaryIrq], 3u);
  EXPECT_EQ(ata.sectors_read(), 3u);
  // The address registers name the last sector transferred.
  EXPECT_EQ(in(0x1f3), 7);
}

TEST_F(AtaTest, ThirtyTwoBitDataReadsMoveTwoWords) {
  // xv6 reads with insl.
  lba_command(AtaChannel::kReadSectors, 9, 1);
  std::vector<std::uint8_t> got;
  for (unsigned i = 0; i < 128; ++i) {
    std::uint32_t d = bus.read(0x1f0, 4).value();
    for (unsigned k = 0; k < 4; ++k) got.push_back(static_cast<std::uint8_t>(d >> (8 * k)));
  }
  EXPECT_EQ(got, expected(9));
  EXPECT_EQ(status(), 0x50);
}

TEST_F(AtaTest, SectorCountZeroMeans256Sectors) {
  std::vector<std::uint8_t> big(300 * kSectorSize, 0x11);
  MemoryImage img(big);
  ASSERT_TRUE(ata.set_drive(0, &img).ok());
  lba_command(AtaChannel::kReadSectors, 0, 0);
  for (unsigned s = 0; s < 256; ++s) {
    ASSERT_EQ(status(), 0x58) << s;
    read_block(512);
  }
  EXPECT_EQ(status(), 0x50);
  EXPECT_EQ(ata.sectors_read(), 256u);
}

TEST_F(AtaTest, AnAddressPastTheEndFailsWithIdnfBeforeAnyData) {
  lba_command(AtaChannel::kReadSectors, kSectors - 1, 2);
  EXPECT_TRUE(intrq());
  EXPECT_EQ(status(), 0x51);  // DRDY | DSC | ERR, no DRQ
  EXPECT_EQ(in(0x1f1), AtaChannel::kErrorIdnf);
  lba_command(AtaChannel::kWriteSectors, kSectors, 1);
  EXPECT_EQ(status(), 0x51);
  EXPECT_EQ(in(0x1f1), AtaChannel::kErrorIdnf);
  EXPECT_EQ(ata.sectors_read(), 0u);
}

TEST_F(AtaTest, WriteSectorsAsksForEachSectorAndInterruptsAfterEach) {
  lba_command(AtaChannel::kWriteSectors, 7, 2);
  EXPECT_EQ(alt_status(), 0x58);  // DRQ for the first sector at once...
  EXPECT_FALSE(intrq());          // ...without an interrupt
  write_block(std::vector<std::uint8_t>(512, 0xa1));
  EXPECT_TRUE(intrq());
  EXPECT_EQ(status(), 0x58);  // the second sector is wanted
  write_block(std::vector<std::uint8_t>(512, 0xa2));
  EXPECT_TRUE(intrq());
  EXPECT_EQ(status(), 0x50);  // done
  EXPECT_EQ(ata.sectors_written(), 2u);
  EXPECT_EQ(bytes, pristine);  // the image itself never changes
  lba_command(AtaChannel::kReadSectors, 6, 3);
  status();
  EXPECT_EQ(read_block(512), expected(6));
  status();
  EXPECT_EQ(read_block(512), std::vector<std::uint8_t>(512, 0xa1));
  status();
  EXPECT_EQ(read_block(512), std::vector<std::uint8_t>(512, 0xa2));
}

TEST_F(AtaTest, AFullOverlayTurnsAWriteIntoADeviceFault) {
  std::vector<std::uint8_t> pool(kSectorSize);
  std::vector<CowDisk::IndexEntry> index(1);
  CowDisk tiny(image, pool, index);
  ASSERT_TRUE(ata.set_drive(0, &tiny).ok());
  lba_command(AtaChannel::kWriteSectors, 20, 2);
  write_block(std::vector<std::uint8_t>(512, 0x55));
  EXPECT_EQ(status(), 0x58);
  write_block(std::vector<std::uint8_t>(512, 0x66));
  EXPECT_TRUE(intrq());
  EXPECT_EQ(status(), 0x71);  // DRDY | DF | DSC | ERR
  EXPECT_EQ(in(0x1f1), AtaChannel::kErrorAbrt);
  EXPECT_EQ(in(0x1f3), 21);  // the failing sector
  ASSERT_NE(ata.last_fault(), nullptr);
  EXPECT_NE(std::string(ata.last_fault()).find("overlay is full"), std::string::npos);
  EXPECT_EQ(ata.last_fault_lba(), 21u);
  // The first sector was kept, the second left as it was.
  lba_command(AtaChannel::kReadSectors, 20, 2);
  status();
  EXPECT_EQ(read_block(512), std::vector<std::uint8_t>(512, 0x55));
  status();
  EXPECT_EQ(read_block(512), expected(21));
}

TEST_F(AtaTest, NienKeepsIntrqLowButTheInterruptStaysPending) {
  out(0x3f6, AtaChannel::kControlNien);
  lba_command(AtaChannel::kReadSectors, 1, 1);
  EXPECT_FALSE(intrq());
  EXPECT_EQ(alt_status(), 0x58);
  out(0x3f6, 0);  // xv6's idestart writes 0 here before each command
  EXPECT_TRUE(intrq());
  EXPECT_EQ(status(), 0x58);
  EXPECT_FALSE(intrq());
}

TEST_F(AtaTest, WritingACommandClearsAPendingInterrupt) {
  lba_command(AtaChannel::kReadVerifySectors, 0, 1);
  EXPECT_TRUE(intrq());
  out(0x1f7, AtaChannel::kFlushCache);
  EXPECT_EQ(irq.rises[AtaChannel::kPrimaryIrq], 2u);  // dropped, then raised by the new one
}

TEST_F(AtaTest, SoftwareResetStopsATransferAndRestoresTheSignature) {
  lba_command(AtaChannel::kReadSectors, 3, 2);
  out(0x1f6, 0xe0);
  out(0x3f6, AtaChannel::kControlSrst);
  EXPECT_EQ(alt_status(), 0x80);  // BSY while SRST is held
  out(0x1f7, AtaChannel::kIdentifyDevice);  // ignored while in reset
  EXPECT_EQ(alt_status(), 0x80);
  EXPECT_FALSE(intrq());
  out(0x3f6, 0);
  EXPECT_EQ(alt_status(), 0x50);
  EXPECT_FALSE(intrq());  // no interrupt after a software reset
  EXPECT_EQ(in(0x1f1), AtaChannel::kDiagnosticPassed);
  EXPECT_EQ(in(0x1f2), 1);
  EXPECT_EQ(in(0x1f3), 1);
  EXPECT_EQ(in(0x1f6), 0xa0);
  EXPECT_EQ(data16(), 0u);  // the transfer is gone
}

TEST_F(AtaTest, AnAbsentDevice1ReadsZeroAndIgnoresCommands) {
  out(0x1f6, 0xf0);  // select device 1
  EXPECT_EQ(status(), 0x00);
  EXPECT_EQ(alt_status(), 0x00);
  EXPECT_EQ(in(0x1f1), 0x00);
  out(0x1f7, AtaChannel::kIdentifyDevice);
  EXPECT_EQ(status(), 0x00);
  EXPECT_FALSE(intrq());
  EXPECT_EQ(data16(), 0u);
  out(0x1f6, 0xe0);  // device 0 is unaffected
  EXPECT_EQ(status(), 0x50);
}

TEST_F(AtaTest, UnsupportedCommandsAbort) {
  for (std::uint8_t cmd : {0xc8, 0xca, 0x24, 0x34, 0xa0, 0xa1, 0x08, 0x00}) {  // DMA, LBA48, packet, NOP
    out(0x1f7, cmd);
    EXPECT_TRUE(intrq()) << std::hex << int{cmd};
    EXPECT_EQ(status(), 0x51) << std::hex << int{cmd};
    EXPECT_EQ(in(0x1f1), AtaChannel::kErrorAbrt) << std::hex << int{cmd};
  }
}

TEST_F(AtaTest, ChsAddressesUseTheCurrentGeometry) {
  out(0x1f6, 0xa0 | 3);  // 4 heads
  out(0x1f2, 8);         // 8 sectors per track
  out(0x1f7, AtaChannel::kInitializeDeviceParameters);
  EXPECT_EQ(status(), 0x50);
  // C=1, H=2, S=4: LBA = (1 * 4 + 2) * 8 + 3 = 51.
  out(0x1f2, 1);
  out(0x1f3, 4);
  out(0x1f4, 1);
  out(0x1f5, 0);
  out(0x1f6, 0xa0 | 2);
  out(0x1f7, AtaChannel::kReadSectors);
  EXPECT_EQ(status(), 0x58);
  EXPECT_EQ(read_block(512), expected(51));
  out(0x1f3, 0);  // sector numbers start at 1
  out(0x1f6, 0xa0);
  out(0x1f7, AtaChannel::kReadSectors);
  EXPECT_EQ(status(), 0x51);
  EXPECT_EQ(in(0x1f1), AtaChannel::kErrorIdnf);
  out(0x1f2, 0);  // zero sectors per track is no geometry
  out(0x1f7, AtaChannel::kInitializeDeviceParameters);
  EXPECT_EQ(status(), 0x51);
  EXPECT_EQ(in(0x1f1), AtaChannel::kErrorAbrt);
}

TEST_F(AtaTest, ReadMultipleNeedsSetMultipleModeAndInterruptsPerBlock) {
  lba_command(AtaChannel::kReadMultiple, 0, 6);
  EXPECT_EQ(status(), 0x51);  // multiple mode is off after power-on
  out(0x1f2, 3);
  out(0x1f7, AtaChannel::kSetMultipleMode);
  EXPECT_EQ(status(), 0x51);  // not a power of two
  out(0x1f2, 4);
  out(0x1f7, AtaChannel::kSetMultipleMode);
  EXPECT_EQ(status(), 0x50);
  const unsigned rises = irq.rises[AtaChannel::kPrimaryIrq];
  lba_command(AtaChannel::kReadMultiple, 10, 6);
  EXPECT_EQ(status(), 0x58);
  std::vector<std::uint8_t> first = read_block(4 * 512);  // one block of four sectors
  EXPECT_EQ(status(), 0x58);
  std::vector<std::uint8_t> second = read_block(2 * 512);  // then the remaining two
  EXPECT_EQ(status(), 0x50);
  EXPECT_EQ(irq.rises[AtaChannel::kPrimaryIrq] - rises, 2u);
  for (unsigned s = 0; s < 4; ++s) {
    EXPECT_EQ(std::vector<std::uint8_t>(first.begin() + s * 512, first.begin() + (s + 1) * 512), expected(10 + s));
  }
  EXPECT_EQ(std::vector<std::uint8_t>(second.begin() + 512, second.end()), expected(15));
}

TEST_F(AtaTest, WriteMultipleTakesWholeBlocks) {
  out(0x1f2, 2);
  out(0x1f7, AtaChannel::kSetMultipleMode);
  status();
  lba_command(AtaChannel::kWriteMultiple, 30, 3);
  EXPECT_FALSE(intrq());
  write_block(std::vector<std::uint8_t>(1024, 0x21));
  EXPECT_EQ(ata.sectors_written(), 2u);
  EXPECT_EQ(status(), 0x58);
  write_block(std::vector<std::uint8_t>(512, 0x22));
  EXPECT_EQ(status(), 0x50);
  EXPECT_EQ(ata.sectors_written(), 3u);
  std::uint8_t buf[kSectorSize];
  ASSERT_TRUE(disk.read_sector(32, buf).ok());
  EXPECT_EQ(buf[0], 0x22);
  // IDENTIFY word 59 reports the setting.
  out(0x1f7, AtaChannel::kIdentifyDevice);
  std::vector<std::uint8_t> id = read_block(512);
  EXPECT_EQ(id[2 * 59] | id[2 * 59 + 1] << 8, 0x0102);
}

TEST_F(AtaTest, NonDataCommandsCompleteWithAnInterrupt) {
  out(0x1f7, AtaChannel::kCheckPowerMode);
  EXPECT_TRUE(intrq());
  EXPECT_EQ(status(), 0x50);
  EXPECT_EQ(in(0x1f2), 0xff);  // active or idle
  out(0x1f1, 0x03);
  out(0x1f2, 0x0c);  // PIO mode 4
  out(0x1f7, AtaChannel::kSetFeatures);
  EXPECT_EQ(status(), 0x50);
  out(0x1f2, 0x45);  // UDMA mode 5: there is no DMA
  out(0x1f7, AtaChannel::kSetFeatures);
  EXPECT_EQ(status(), 0x51);
  out(0x1f1, 0x99);  // an unknown feature
  out(0x1f7, AtaChannel::kSetFeatures);
  EXPECT_EQ(status(), 0x51);
  lba_command(AtaChannel::kReadVerifySectors, 60, 4);
  EXPECT_EQ(status(), 0x50);
  lba_command(AtaChannel::kReadVerifySectors, 61, 4);
  EXPECT_EQ(status(), 0x51);
  EXPECT_EQ(in(0x1f1), AtaChannel::kErrorIdnf);
  out(0x1f7, 0x10);  // RECALIBRATE
  EXPECT_EQ(status(), 0x50);
}

TEST_F(AtaTest, ExecuteDeviceDiagnosticReportsForBothDevices) {
  out(0x1f6, 0xf0);  // even with device 1 selected
  out(0x1f7, AtaChannel::kExecuteDeviceDiagnostic);
  EXPECT_TRUE(intrq());
  EXPECT_EQ(in(0x1f6), 0xa0);  // the signature selects device 0
  EXPECT_EQ(in(0x1f1), AtaChannel::kDiagnosticPassed);
  EXPECT_EQ(in(0x1f2), 1);
  EXPECT_EQ(status(), 0x50);
}

TEST_F(AtaTest, SetDriveRefusesBadSlotsAndDisksBeyondLba28) {
  EXPECT_EQ(ata.set_drive(2, &disk).error(), Error::invalid_argument);
  struct Huge final : BlockStore {
    std::uint64_t sector_count() const override { return (std::uint64_t{1} << 28) + 1; }
    Status read_sector(std::uint64_t, std::uint8_t*) const override { return {}; }
    Status write_sector(std::uint64_t, const std::uint8_t*) override { return {}; }
  } huge;
  EXPECT_EQ(ata.set_drive(0, &huge).error(), Error::invalid_argument);
  EXPECT_TRUE(ata.present(0));
  lba_command(AtaChannel::kReadSectors, 1, 1);
  EXPECT_EQ(read_block(512), expected(1));  // still the old disk
}

// ---- Other drive layouts --------------------------------------------------------------------

TEST(AtaLayout, OnlyDevice1PresentAnswersTheWayXv6ProbesIt) {
  std::vector<std::uint8_t> bytes(16 * kSectorSize, 0x5a);
  MemoryImage img(bytes);
  test::IrqRecorder irq;
  AtaChannel ata(&irq);
  PortBus bus;
  ASSERT_TRUE(ata.set_drive(1, &img).ok());
  ASSERT_TRUE(ata.attach(bus).ok());
  // xv6's ideinit: wait for DRDY and not BSY with device 0 selected...
  EXPECT_EQ(bus.read(0x1f7, 1).value() & 0xc0, 0x40u);
  // ...then select device 1 and look for a non-zero status.
  ASSERT_TRUE(bus.write(0x1f6, 1, 0xe0 | 0x10).ok());
  EXPECT_NE(bus.read(0x1f7, 1).value(), 0u);
  // Device 1 reads sector 0 (xv6's idestart with b->dev = 1).
  ASSERT_TRUE(bus.write(0x1f2, 1, 1).ok());
  ASSERT_TRUE(bus.write(0x1f3, 1, 0).ok());
  ASSERT_TRUE(bus.write(0x1f4, 1, 0).ok());
  ASSERT_TRUE(bus.write(0x1f5, 1, 0).ok());
  ASSERT_TRUE(bus.write(0x1f6, 1, 0xf0).ok());
  ASSERT_TRUE(bus.write(0x1f7, 1, AtaChannel::kReadSectors).ok());
  EXPECT_TRUE(irq.level[14]);
  EXPECT_EQ(bus.read(0x1f7, 1).value(), 0x58u);
  EXPECT_EQ(bus.read(0x1f0, 4).value(), 0x5a5a5a5au);
  // The phantom device 0 aborts whatever it is sent.
  ASSERT_TRUE(bus.write(0x1f6, 1, 0xe0).ok());
  ASSERT_TRUE(bus.write(0x1f7, 1, AtaChannel::kIdentifyDevice).ok());
  EXPECT_EQ(bus.read(0x1f7, 1).value(), 0x51u);
  EXPECT_EQ(bus.read(0x1f1, 1).value(), AtaChannel::kErrorAbrt);
  EXPECT_EQ(bus.read(0x1f0, 2).value(), 0u);
}

TEST(AtaLayout, NoDriveAtAllFloats) {
  AtaChannel ata(nullptr);
  PortBus bus;
  ASSERT_TRUE(ata.attach(bus).ok());
  for (std::uint16_t p = 0x1f1; p <= 0x1f7; ++p) EXPECT_EQ(bus.read(p, 1).value(), 0xffu) << p;
  EXPECT_EQ(bus.read(0x3f6, 1).value(), 0xffu);
  EXPECT_EQ(bus.read(0x1f0, 2).value(), 0xffffu);
  ASSERT_TRUE(bus.write(0x1f7, 1, AtaChannel::kIdentifyDevice).ok());
  EXPECT_EQ(bus.read(0x1f7, 1).value(), 0xffu);
}

}  // namespace
}  // namespace hvlab::dev

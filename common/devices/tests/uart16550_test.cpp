#include "common/devices/uart16550.hpp"

#include <gtest/gtest.h>

#include "common/devices/tests/test_support.hpp"

namespace hvlab::dev {
namespace {

using test::rd;
using test::wr;
using U = Uart16550;

struct UartTest : ::testing::Test {
  test::IrqRecorder irq;
  test::ByteRecorder out;
  Uart16550 uart{&irq, U::kCom1Irq, &out};
};

TEST_F(UartTest, PowerOnRegisterValues) {
  EXPECT_EQ(rd(uart, U::kLsr), 0x60);      // THRE | TEMT, nothing received
  EXPECT_EQ(rd(uart, U::kIirFcr), 0x01);   // no interrupt, FIFOs off
  EXPECT_EQ(rd(uart, U::kIer), 0x00);
  EXPECT_EQ(rd(uart, U::kMcr), 0x00);
  EXPECT_EQ(rd(uart, U::kMsr), 0xb0);      // DCD, DSR, CTS asserted by default, no deltas
  EXPECT_FALSE(irq.level[4]);
}

TEST_F(UartTest, DivisorLatchSharesOffsetsZeroAndOneWithDlab) {
  wr(uart, U::kIer, 0x05);
  wr(uart, U::kLcr, 0x83);  // DLAB, 8N1
  wr(uart, U::kRbrThr, 0x01);
  wr(uart, U::kIer, 0x00);
  EXPECT_EQ(uart.divisor(), 1);
  EXPECT_EQ(uart.baud_rate(), 115200u);
  EXPECT_EQ(rd(uart, U::kRbrThr), 0x01);
  EXPECT_EQ(rd(uart, U::kIer), 0x00);  // DLM, not IER
  EXPECT_EQ(out.out, "");              // the DLL write did not transmit
  wr(uart, U::kLcr, 0x03);
  EXPECT_EQ(rd(uart, U::kIer), 0x05);  // IER kept its value behind the latch
  wr(uart, U::kRbrThr, 'Z');
  EXPECT_EQ(out.out, "Z");
  wr(uart, U::kLcr, 0x80);
  wr(uart, U::kRbrThr, 0x0c);
  EXPECT_EQ(uart.baud_rate(), 9600u);
}

TEST_F(UartTest, TransmitReachesSinkImmediatelyByDefault) {
  for (char c : std::string("hello\n")) wr(uart, U::kRbrThr, static_cast<std::uint8_t>(c));
  EXPECT_EQ(out.out, "hello\n");
  EXPECT_EQ(rd(uart, U::kLsr) & 0x60, 0x60);
}

TEST_F(UartTest, ReceivedByteSetsDataReadyUntilRead) {
  EXPECT_TRUE(uart.receive('A'));
  EXPECT_EQ(rd(uart, U::kLsr), 0x61);
  EXPECT_EQ(rd(uart, U::kRbrThr), 'A');
  EXPECT_EQ(rd(uart, U::kLsr), 0x60);
}

TEST_F(UartTest, OverrunWithoutFifoOverwritesRbrAndSetsOeUntilLsrRead) {
  EXPECT_TRUE(uart.receive('a'));
  EXPECT_FALSE(uart.receive('b'));
  EXPECT_EQ(rd(uart, U::kLsr), 0x63);  // DR | OE | THRE | TEMT
  EXPECT_EQ(rd(uart, U::kLsr), 0x61);  // reading LSR cleared OE
  EXPECT_EQ(rd(uart, U::kRbrThr), 'b');
}

TEST_F(UartTest, FifoHoldsSixteenBytesThenOverrunsKeepingTheFifo) {
  wr(uart, U::kIirFcr, 0x01);
  for (int i = 0; i < 16; ++i) EXPECT_TRUE(uart.receive(static_cast<std::uint8_t>('a' + i))) << i;
  EXPECT_EQ(uart.rx_space(), 0u);
  EXPECT_FALSE(uart.receive('!'));
  EXPECT_EQ(rd(uart, U::kLsr) & 0x03, 0x03);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(rd(uart, U::kRbrThr), 'a' + i);
  EXPECT_EQ(rd(uart, U::kLsr) & 0x01, 0x00);  // the 17th byte was lost, not queued
}

TEST_F(UartTest, ReceiveAvailableNeverOverruns) {
  wr(uart, U::kIirFcr, 0x01);
  std::uint8_t bytes[20];
  for (int i = 0; i < 20; ++i) bytes[i] = static_cast<std::uint8_t>(i);
  EXPECT_EQ(uart.receive_available(bytes, 20), 16u);
  EXPECT_EQ(rd(uart, U::kLsr) & U::kLsrOe, 0);
}

TEST_F(UartTest, FcrResetsAndEnableToggleClearFifos) {
  wr(uart, U::kIirFcr, 0x01);
  EXPECT_EQ(rd(uart, U::kIirFcr) & 0xc0, 0xc0);
  for (int i = 0; i < 5; ++i) uart.receive('x');
  wr(uart, U::kIirFcr, 0x05);  // TX reset only: RX untouched
  EXPECT_EQ(uart.rx_count(), 5u);
  wr(uart, U::kIirFcr, 0x03);  // RX reset
  EXPECT_EQ(uart.rx_count(), 0u);
  EXPECT_EQ(rd(uart, U::kLsr) & U::kLsrDr, 0);
  for (int i = 0; i < 3; ++i) uart.receive('y');
  wr(uart, U::kIirFcr, 0x00);  // disabling the FIFOs clears them too
  EXPECT_EQ(uart.rx_count(), 0u);
  EXPECT_EQ(rd(uart, U::kIirFcr) & 0xc0, 0x00);
}

TEST_F(UartTest, FcrResetBitsNeedFcr0) {
  uart.receive('a');
  wr(uart, U::kIirFcr, 0x02);  // RX reset with FCR0 = 0: not written, RBR keeps its byte
  EXPECT_EQ(rd(uart, U::kLsr) & U::kLsrDr, U::kLsrDr);
  EXPECT_EQ(rd(uart, U::kRbrThr), 'a');
  wr(uart, U::kIirFcr, 0xc1);
  EXPECT_EQ(uart.rx_trigger_level(), 14u);
  wr(uart, U::kIirFcr, 0x41);
  EXPECT_EQ(uart.rx_trigger_level(), 4u);
}

TEST(Uart, RxTriggerLevelAndCharacterTimeout) {
  test::IrqRecorder irq;
  UartConfig cfg;
  cfg.rx_timeout_chars = 4;
  Uart16550 uart(&irq, 4, nullptr, cfg);
  wr(uart, U::kIirFcr, 0x81);  // FIFO on, trigger level 8
  wr(uart, U::kIer, U::kIerRxData);
  for (int i = 0; i < 7; ++i) uart.receive('r');
  EXPECT_EQ(rd(uart, U::kIirFcr), 0xc1);  // below the trigger, no timeout yet
  EXPECT_FALSE(irq.level[4]);
  uart.receive('r');
  EXPECT_EQ(rd(uart, U::kIirFcr), 0xc4);  // received data available
  EXPECT_TRUE(irq.level[4]);
  rd(uart, U::kRbrThr);  // 7 left: below the trigger again
  EXPECT_EQ(rd(uart, U::kIirFcr), 0xc1);
  EXPECT_FALSE(irq.level[4]);
  uart.advance_char_times(3);
  EXPECT_EQ(rd(uart, U::kIirFcr), 0xc1);
  uart.advance_char_times(1);
  EXPECT_EQ(rd(uart, U::kIirFcr), 0xcc);  // character timeout after 4 idle character times
  EXPECT_TRUE(irq.level[4]);
  while (rd(uart, U::kLsr) & U::kLsrDr) rd(uart, U::kRbrThr);
  EXPECT_EQ(rd(uart, U::kIirFcr), 0xc1);
  EXPECT_FALSE(irq.level[4]);
}

TEST_F(UartTest, DefaultTimeoutIsImmediateForShortInput) {
  wr(uart, U::kIirFcr, 0xc7);  // the usual Linux setting: FIFO on, trigger 14
  wr(uart, U::kIer, U::kIerRxData);
  uart.receive('k');
  EXPECT_EQ(rd(uart, U::kIirFcr), 0xcc);
  EXPECT_TRUE(irq.level[4]);
}

TEST_F(UartTest, RxDataInterruptRaisesAndDropsIrqLine) {
  wr(uart, U::kIer, U::kIerRxData);
  EXPECT_FALSE(irq.level[4]);
  uart.receive('q');
  EXPECT_TRUE(irq.level[4]);
  EXPECT_EQ(rd(uart, U::kIirFcr), 0x04);
  EXPECT_EQ(rd(uart, U::kRbrThr), 'q');
  EXPECT_FALSE(irq.level[4]);
  EXPECT_EQ(rd(uart, U::kIirFcr), 0x01);
}

TEST_F(UartTest, InterruptIdentificationPriorities) {
  wr(uart, U::kIer, 0x0f);  // enabling ETBEI with THR empty raises THRE at once
  uart.receive('a');
  uart.receive('b');                                    // overrun
  uart.set_modem_inputs(false, true, false, true);     // CTS dropped: DCTS
  EXPECT_EQ(rd(uart, U::kIirFcr), 0x06);  // line status beats everything
  EXPECT_EQ(rd(uart, U::kIirFcr), 0x06);  // and is not cleared by reading IIR
  EXPECT_EQ(rd(uart, U::kLsr), 0x63);
  EXPECT_EQ(rd(uart, U::kIirFcr), 0x04);  // then received data
  EXPECT_EQ(rd(uart, U::kRbrThr), 'b');
  EXPECT_EQ(rd(uart, U::kIirFcr), 0x02);  // then THR empty; this read clears it
  EXPECT_EQ(rd(uart, U::kIirFcr), 0x00);  // then modem status
  EXPECT_TRUE(irq.level[4]);
  EXPECT_EQ(rd(uart, U::kMsr), 0xa1);     // DCD | DSR | DCTS; reading clears the delta
  EXPECT_EQ(rd(uart, U::kIirFcr), 0x01);
  EXPECT_FALSE(irq.level[4]);
}

TEST_F(UartTest, ThrWriteClearsThreAndTransmitCompletionRaisesFreshEdge) {
  wr(uart, U::kIer, U::kIerThre);
  EXPECT_EQ(irq.rises[4], 1u);
  wr(uart, U::kRbrThr, 'a');
  EXPECT_EQ(irq.rises[4], 2u);  // dropped on the write, raised again once THR emptied
  EXPECT_TRUE(irq.level[4]);
  EXPECT_EQ(rd(uart, U::kIirFcr), 0x02);
  EXPECT_FALSE(irq.level[4]);  // the IIR read cleared THRE
  EXPECT_EQ(rd(uart, U::kIirFcr), 0x01);
  wr(uart, U::kRbrThr, 'b');
  EXPECT_EQ(irq.rises[4], 3u);
  EXPECT_EQ(out.out, "ab");
}

TEST(Uart, PacedTransmitterFifoDrainsOneCharacterPerCharTime) {
  test::ByteRecorder out;
  UartConfig cfg;
  cfg.paced_tx = true;
  Uart16550 uart(nullptr, 4, &out, cfg);
  wr(uart, U::kIirFcr, 0x01);
  wr(uart, U::kRbrThr, 'a');
  wr(uart, U::kRbrThr, 'b');
  wr(uart, U::kRbrThr, 'c');
  EXPECT_EQ(out.out, "");
  EXPECT_EQ(rd(uart, U::kLsr) & 0x60, 0x00);  // 'a' shifting, 'b' 'c' queued
  uart.advance_char_times(1);
  EXPECT_EQ(out.out, "a");
  uart.advance_char_times(1);
  EXPECT_EQ(out.out, "ab");
  EXPECT_EQ(rd(uart, U::kLsr) & 0x60, 0x20);  // FIFO empty (THRE) but 'c' still shifting
  uart.advance_char_times(1);
  EXPECT_EQ(out.out, "abc");
  EXPECT_EQ(rd(uart, U::kLsr) & 0x60, 0x60);  // TEMT
}

TEST(Uart, PacedTransmitterLosesWritesToAFullFifo) {
  test::ByteRecorder out;
  UartConfig cfg;
  cfg.paced_tx = true;
  Uart16550 uart(nullptr, 4, &out, cfg);
  wr(uart, U::kIirFcr, 0x01);
  for (int i = 0; i < 18; ++i) wr(uart, U::kRbrThr, static_cast<std::uint8_t>('A' + i));
  EXPECT_EQ(uart.tx_count(), 16u);
  uart.advance_char_times(100);
  EXPECT_EQ(out.out, "ABCDEFGHIJKLMNOPQ");  // shift register + 16 in the FIFO; 'R' lost
}

TEST(Uart, PacedTransmitterWithoutFifoHoldsOneByteInThr) {
  test::ByteRecorder out;
  UartConfig cfg;
  cfg.paced_tx = true;
  Uart16550 uart(nullptr, 4, &out, cfg);
  wr(uart, U::kRbrThr, 'x');
  EXPECT_EQ(rd(uart, U::kLsr) & 0x60, 0x20);  // 'x' moved to the shift register at once
  wr(uart, U::kRbrThr, 'y');
  EXPECT_EQ(rd(uart, U::kLsr) & 0x60, 0x00);
  wr(uart, U::kRbrThr, 'z');  // THR full: lost
  uart.advance_char_times(5);
  EXPECT_EQ(out.out, "xy");
}

TEST(Uart, PacedLoopbackTimeoutCountsFromTheLastReceivedCharacter) {
  UartConfig cfg;
  cfg.paced_tx = true;
  cfg.rx_timeout_chars = 4;
  Uart16550 uart(nullptr, 4, nullptr, cfg);
  wr(uart, U::kIirFcr, 0xc1);  // FIFO, trigger 14
  wr(uart, U::kIer, U::kIerRxData);
  wr(uart, U::kMcr, U::kMcrLoop);
  wr(uart, U::kRbrThr, 'a');
  wr(uart, U::kRbrThr, 'b');
  uart.advance_char_times(2);  // both characters cross the loop, 'b' at the very end
  EXPECT_EQ(uart.rx_count(), 2u);
  EXPECT_EQ(uart.interrupt_id(), U::kIirNone);
  uart.advance_char_times(3);
  EXPECT_EQ(uart.interrupt_id(), U::kIirNone);
  uart.advance_char_times(1);
  EXPECT_EQ(uart.interrupt_id(), U::kIirRxTimeout);
}

TEST_F(UartTest, LoopbackRoutesTransmitterToReceiver) {
  wr(uart, U::kMcr, U::kMcrLoop);
  wr(uart, U::kRbrThr, 'x');
  EXPECT_EQ(out.out, "");  // the serial output is held marking in loopback
  EXPECT_EQ(rd(uart, U::kLsr) & U::kLsrDr, U::kLsrDr);
  EXPECT_FALSE(uart.receive('q'));  // the serial input is disconnected
  EXPECT_EQ(rd(uart, U::kRbrThr), 'x');
  EXPECT_EQ(rd(uart, U::kLsr) & U::kLsrDr, 0);
  wr(uart, U::kMcr, 0);
  wr(uart, U::kRbrThr, 'y');
  EXPECT_EQ(out.out, "y");
}

TEST_F(UartTest, LoopbackWiresModemOutputsToInputs) {
  // Linux's autoconfig check: LOOP | OUT2 | RTS must read back as DCD | CTS.
  wr(uart, U::kMcr, U::kMcrLoop | U::kMcrOut2 | U::kMcrRts);
  EXPECT_EQ(rd(uart, U::kMsr) & 0xf0, 0x90);
  wr(uart, U::kMcr, 0x1f);
  EXPECT_EQ(rd(uart, U::kMsr) & 0xf0, 0xf0);
  wr(uart, U::kMcr, U::kMcrLoop | U::kMcrDtr);
  EXPECT_EQ(rd(uart, U::kMsr) & 0xf0, 0x20);  // DTR -> DSR only
  EXPECT_EQ(rd(uart, U::kMcr), 0x11);
}

TEST_F(UartTest, ModemDeltaBitsAndTrailingEdgeOfRing) {
  wr(uart, U::kMcr, U::kMcrLoop);
  rd(uart, U::kMsr);  // discard the deltas from entering loopback
  wr(uart, U::kMcr, U::kMcrLoop | U::kMcrOut1);  // RI asserted: not an edge TERI reports
  EXPECT_EQ(rd(uart, U::kMsr), 0x40);
  wr(uart, U::kMcr, U::kMcrLoop);  // RI released: trailing edge
  EXPECT_EQ(rd(uart, U::kMsr), 0x04);
  EXPECT_EQ(rd(uart, U::kMsr), 0x00);  // deltas clear on read
  wr(uart, U::kMcr, U::kMcrLoop | U::kMcrRts | U::kMcrDtr);
  EXPECT_EQ(rd(uart, U::kMsr), 0x33);  // CTS | DSR with DCTS | DDSR
}

TEST(Uart, Out2GatesTheIrqOnPcWiring) {
  test::IrqRecorder irq;
  UartConfig cfg;
  cfg.out2_gates_irq = true;
  Uart16550 uart(&irq, 4, nullptr, cfg);
  wr(uart, U::kIer, U::kIerThre);
  EXPECT_EQ(uart.interrupt_id(), U::kIirThre);  // pending inside the chip...
  EXPECT_FALSE(irq.level[4]);                   // ...but OUT2 = 0 keeps it off the bus
  wr(uart, U::kMcr, U::kMcrOut2);
  EXPECT_TRUE(irq.level[4]);
  wr(uart, U::kMcr, U::kMcrOut2 | U::kMcrLoop);  // loopback disconnects OUT2 from the pin
  EXPECT_FALSE(irq.level[4]);
}

TEST_F(UartTest, ScratchAndReservedBits) {
  wr(uart, U::kScr, 0x5a);
  EXPECT_EQ(rd(uart, U::kScr), 0x5a);
  wr(uart, U::kIer, 0xff);
  EXPECT_EQ(rd(uart, U::kIer), 0x0f);
  wr(uart, U::kMcr, 0xef);
  EXPECT_EQ(rd(uart, U::kMcr), 0x0f);
  wr(uart, U::kLsr, 0x00);  // LSR is not writable by the guest
  EXPECT_EQ(rd(uart, U::kLsr), 0x60);
  wr(uart, U::kLcr, 0x1b);
  EXPECT_EQ(rd(uart, U::kLcr), 0x1b);
}

TEST_F(UartTest, RejectsWideAccesses) {
  EXPECT_EQ(uart.read(U::kLsr, 2).error(), Error::unsupported);
  EXPECT_EQ(uart.write(U::kRbrThr, 4, 'x').error(), Error::unsupported);
  EXPECT_EQ(out.out, "");
}

}  // namespace
}  // namespace hvlab::dev

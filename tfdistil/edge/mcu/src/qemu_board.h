// What the emulated-board firmware needs from the board besides newlib: Arm semihosting calls
// and an instruction counter.
//
// Semihosting: `bkpt 0xAB` with the operation in r0 and its argument in r1; QEMU (run with
// -semihosting) performs it on the host. newlib's rdimon (--specs=rdimon.specs) already routes
// printf/fopen/exit through it; the fault handler needs a raw console write and an exit.
//
// Instruction counter: under `-icount shift=S` QEMU's virtual clock advances exactly 2^S ns
// per executed instruction, and the board's timers run on that clock, so a free-running timer
// counts instructions. Which timer depends on the board (tfdistil/edge/mcu/boards.py sets
// TFDISTIL_TIMER_KIND and TFDISTIL_TIMER_BASE):
//   0: CMSDK APB timer 0 of the MPS2 boards (a 32-bit down-counter at 25 MHz: with S = 6 it
//      ticks 1.6 times per instruction);
//   1: the MPS2/MPS3 FPGA IO block's COUNTER (32-bit, counts up at SYSCLK; used on the
//      TrustZone boards AN505/AN547, whose CMSDK timers are the SSE's 32 kHz ones);
//   2: an STM32 general-purpose timer's CNT (TIM2, 32-bit; QEMU clocks it at 1 GHz).
// main_qemu.cc measures the exact ratio at start-up with a loop of known length. (Semihosting's
// SYS_ELAPSED is no substitute: QEMU 7.2 answers it with host time, with or without -icount.)
#ifndef TFDISTIL_QEMU_BOARD_H_
#define TFDISTIL_QEMU_BOARD_H_
#include <stdint.h>

#define TFDISTIL_SYS_WRITE0 0x04u  // r1 = NUL-terminated string, to the host console
#define TFDISTIL_SYS_EXIT 0x18u    // r1 = reason code (AArch32: the value itself)
#define TFDISTIL_ADP_STOPPED_RUNTIME_ERROR 0x20023u  // QEMU then exits with status 1

#ifndef TFDISTIL_TIMER_BASE
#define TFDISTIL_TIMER_BASE 0x40000000u  // CMSDK APB timer 0 on mps2-an385/an386/an500
#endif
#ifndef TFDISTIL_TIMER_KIND
#define TFDISTIL_TIMER_KIND 0
#endif

#if defined(__arm__)
static inline uint32_t tfdistil_semihost(uint32_t op, const void* arg) {
  register uint32_t r0 __asm__("r0") = op;
  register const void* r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

static inline volatile uint32_t* tfdistil_timer(void) { return (volatile uint32_t*)TFDISTIL_TIMER_BASE; }

// Free-running over 32 bits: differences of two reads modulo 2^32 are exact for intervals
// shorter than 2^32 ticks (2.6e9 instructions at 1.6 ticks per instruction).
static inline void tfdistil_ticks_start(void) {
  volatile uint32_t* t = tfdistil_timer();
#if TFDISTIL_TIMER_KIND == 0
  // CMSDK: CTRL (bit 0 = enable), VALUE (counts down), RELOAD; reloads 0xFFFFFFFF after 0
  t[0] = 0;
  t[2] = 0xFFFFFFFFu;
  t[1] = 0xFFFFFFFFu;
  t[0] = 1;
#elif TFDISTIL_TIMER_KIND == 1
  t[0x1C / 4] = 0;  // FPGA IO PRESCALE = 0: COUNTER advances every SYSCLK cycle
#else
  t[0x28 / 4] = 0;            // PSC: no prescaler
  t[0x2C / 4] = 0xFFFFFFFFu;  // ARR: the full 32 bits
  t[0x00 / 4] = 1;            // CR1.CEN
#endif
}

// Ticks since tfdistil_ticks_start(), increasing.
static inline uint32_t tfdistil_ticks(void) {
#if TFDISTIL_TIMER_KIND == 0
  return ~tfdistil_timer()[1];
#elif TFDISTIL_TIMER_KIND == 1
  return tfdistil_timer()[0x18 / 4];  // COUNTER
#else
  return tfdistil_timer()[0x24 / 4];  // CNT
#endif
}
#else
// The same main compiled for the host (the bit-exact reference of the board's answers): no
// board timer, every interval reads 0.
static inline void tfdistil_ticks_start(void) {}
static inline uint32_t tfdistil_ticks(void) { return 0; }
#endif

#endif  // TFDISTIL_QEMU_BOARD_H_

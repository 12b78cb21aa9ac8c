// What the emulated-board firmware needs from the board besides newlib: Arm semihosting calls
// and an instruction counter.
//
// Semihosting: `bkpt 0xAB` with the operation in r0 and its argument in r1; QEMU (run with
// -semihosting) performs it on the host. newlib's rdimon (--specs=rdimon.specs) already routes
// printf/fopen/exit through it; the fault handler needs a raw console write and an exit.
//
// Instruction counter: under `-icount shift=S` QEMU's virtual clock advances exactly 2^S ns
// per executed instruction, and the board's timers run on that clock. CMSDK APB timer 0 of
// the MPS2 boards (a 32-bit down-counter at 25 MHz) therefore counts instructions: with S = 6
// it ticks 1.6 times per instruction. main_qemu.cc measures the exact ratio at start-up with a
// loop of known length. (Semihosting's SYS_ELAPSED is no substitute: QEMU 7.2 answers it with
// host time, with or without -icount.)
#ifndef TFDISTIL_QEMU_BOARD_H_
#define TFDISTIL_QEMU_BOARD_H_
#include <stdint.h>

#define TFDISTIL_SYS_WRITE0 0x04u  // r1 = NUL-terminated string, to the host console
#define TFDISTIL_SYS_EXIT 0x18u    // r1 = reason code (AArch32: the value itself)
#define TFDISTIL_ADP_STOPPED_RUNTIME_ERROR 0x20023u  // QEMU then exits with status 1

#ifndef TFDISTIL_TIMER_BASE
#define TFDISTIL_TIMER_BASE 0x40000000u  // CMSDK APB timer 0 on mps2-an385/an386
#endif

#if defined(__arm__)
static inline uint32_t tfdistil_semihost(uint32_t op, const void* arg) {
  register uint32_t r0 __asm__("r0") = op;
  register const void* r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

// CMSDK APB timer registers: CTRL (bit 0 = enable), VALUE (counts down), RELOAD.
static inline volatile uint32_t* tfdistil_timer(void) { return (volatile uint32_t*)TFDISTIL_TIMER_BASE; }

// Free-running from 0xFFFFFFFF: it reloads to the same value after 0, so differences of two
// reads modulo 2^32 are exact for intervals shorter than 2^32 ticks (2.6e9 instructions at S = 6).
static inline void tfdistil_ticks_start(void) {
  volatile uint32_t* t = tfdistil_timer();
  t[0] = 0;
  t[2] = 0xFFFFFFFFu;
  t[1] = 0xFFFFFFFFu;
  t[0] = 1;
}

// Ticks since tfdistil_ticks_start(), increasing (the timer counts down).
static inline uint32_t tfdistil_ticks(void) { return ~tfdistil_timer()[1]; }
#else
// The same main compiled for the host (the bit-exact reference of the board's answers): no
// board timer, every interval reads 0.
static inline void tfdistil_ticks_start(void) {}
static inline uint32_t tfdistil_ticks(void) { return 0; }
#endif

#endif  // TFDISTIL_QEMU_BOARD_H_

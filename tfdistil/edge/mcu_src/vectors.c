// Cortex-M vector table for the emulated board, linked at address 0
// (-Wl,--section-start=.vectors=0x0, kept alive with -Wl,--undefined=tfdistil_vectors).
//
// Word 0 is the initial stack pointer, word 1 the reset handler: newlib's `_start` (rdimon
// crt0), which asks the host for heap and stack limits over semihosting, moves the stack
// there, reads argv from QEMU's -append and calls main(). Every fault and unexpected
// exception lands in FaultHandler: without it a fault would escalate to a lockup, and QEMU
// would abort with a register dump instead of a message the host can report.
#include <stdint.h>

#include "qemu_board.h"

#ifndef TFDISTIL_STACK_TOP
#define TFDISTIL_STACK_TOP 0x20400000u  // mps2-an386: top of the 4 MB SRAM at 0x20000000
#endif

extern void _start(void);

static void FaultHandler(void) {
  tfdistil_semihost(TFDISTIL_SYS_WRITE0, "F cpu fault (HardFault, MemManage, BusFault, UsageFault or NMI)\n");
  tfdistil_semihost(TFDISTIL_SYS_EXIT, (const void*)TFDISTIL_ADP_STOPPED_RUNTIME_ERROR);
  for (;;) {
  }
}

__attribute__((section(".vectors"), used)) const uintptr_t tfdistil_vectors[16] = {
    TFDISTIL_STACK_TOP,        // initial SP
    (uintptr_t)_start,         // Reset
    (uintptr_t)FaultHandler,   // NMI
    (uintptr_t)FaultHandler,   // HardFault
    (uintptr_t)FaultHandler,   // MemManage
    (uintptr_t)FaultHandler,   // BusFault
    (uintptr_t)FaultHandler,   // UsageFault
    0, 0, 0, 0,                // reserved
    (uintptr_t)FaultHandler,   // SVCall
    (uintptr_t)FaultHandler,   // DebugMonitor
    0,                         // reserved
    (uintptr_t)FaultHandler,   // PendSV
    (uintptr_t)FaultHandler,   // SysTick
};

// Cortex-M vector table and reset handler for the emulated boards, placed by the linker script
// of tfdistil/edge/mcu/boards.py (.vectors first, where the core fetches the table at reset).
//
// Word 0 is the initial stack pointer (top of the stack the linker reserved in RAM), word 1
// the reset handler below. newlib's own `_start` (rdimon crt0) is not used: it asks the host
// for heap and stack limits over semihosting and QEMU answers with its largest RAM region,
// which puts the stack outside the board's real RAM. The reset handler does what a board's
// startup code does instead:
//   1. grant full access to CP10/CP11 in CPACR, so FPU and Helium (MVE) instructions do not
//      fault (a no-op on cores without them);
//   2. copy .data from flash to RAM and zero .bss;
//   3. tell newlib's sbrk where the reserved heap ends, open the semihosting console and files
//      (initialise_monitor_handles), run the C++ constructors, then main() and exit().
// Every fault and unexpected exception lands in FaultHandler: without it a fault would escalate
// to a lockup, and QEMU would abort with a register dump instead of a message the host reports.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_board.h"

extern uint32_t __data_load__[], __data_start__[], __data_end__[], __bss_start__[], __bss_end__[];
extern char __tfdistil_heap_limit[], __tfdistil_stack_top[];
extern unsigned int __heap_limit;  // rdimon crt0's variable, read by its _sbrk
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);
extern int main(int argc, char** argv);

static void FaultHandler(void) {
  tfdistil_semihost(TFDISTIL_SYS_WRITE0, "F cpu fault (HardFault, MemManage, BusFault, UsageFault or NMI)\n");
  tfdistil_semihost(TFDISTIL_SYS_EXIT, (const void*)TFDISTIL_ADP_STOPPED_RUNTIME_ERROR);
  for (;;) {
  }
}

void tfdistil_reset(void) {
  volatile uint32_t* cpacr = (volatile uint32_t*)0xE000ED88u;
  *cpacr |= 0xFu << 20;  // CP10 and CP11: full access
  __asm__ volatile("dsb\n isb" ::: "memory");
  // word loops with volatile stores: memcpy/memset could use the FPU or rely on .data themselves
  volatile uint32_t* dst = __data_start__;
  for (const uint32_t* src = __data_load__; dst < __data_end__;) *dst++ = *src++;
  for (dst = __bss_start__; dst < __bss_end__;) *dst++ = 0;
  __heap_limit = (unsigned int)(uintptr_t)__tfdistil_heap_limit;
  initialise_monitor_handles();
  __libc_init_array();
  exit(main(0, 0));  // main_qemu.cc reads sentences.txt (the host's working directory) by default
}

__attribute__((section(".vectors"), used)) const uintptr_t tfdistil_vectors[16] = {
    (uintptr_t)__tfdistil_stack_top,  // initial SP
    (uintptr_t)tfdistil_reset,        // Reset
    (uintptr_t)FaultHandler,          // NMI
    (uintptr_t)FaultHandler,          // HardFault
    (uintptr_t)FaultHandler,          // MemManage
    (uintptr_t)FaultHandler,          // BusFault
    (uintptr_t)FaultHandler,          // UsageFault
    (uintptr_t)FaultHandler,          // SecureFault
    0, 0, 0,                          // reserved
    (uintptr_t)FaultHandler,          // SVCall
    (uintptr_t)FaultHandler,          // DebugMonitor
    0,                                // reserved
    (uintptr_t)FaultHandler,          // PendSV
    (uintptr_t)FaultHandler,          // SysTick
};

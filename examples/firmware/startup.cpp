// examples/firmware/startup.cpp - vector table, reset handler and the few run-time support hooks a
// bare-metal C++ program needs, written for the Cortex-M4F of the MPS2 AN386 image.  No newlib
// start-up code (crt0) and no system calls: the only ways out are semihosting calls.
#include <cstddef>
#include <cstdint>

#include "semihosting.hpp"

extern "C" {
extern std::uint32_t __data_start[], __data_end[], __data_load[];
extern std::uint32_t __bss_start[], __bss_end[];
extern std::uint32_t __stack_top[];
using InitFn = void (*)();
extern InitFn __init_array_start[], __init_array_end[];

int firmware_main();  // the application (firmware_main.cpp)
[[noreturn]] void Reset_Handler();
[[noreturn]] void Fault_Handler();

// --- C++ run-time hooks ----------------------------------------------------------------------
// The firmware never returns from main, so static destructors never run: do not register them
// (newlib's atexit machinery may allocate).
void* __dso_handle = nullptr;
int __aeabi_atexit(void*, void (*)(void*), void*) { return 0; }
// physguard's default assertion handler ends in std::abort(): stop the emulation with a failure.
[[noreturn]] void abort() { semihosting::exit(false); }
[[noreturn]] void __cxa_pure_virtual() { semihosting::exit(false); }
}

extern "C" [[noreturn]] void Fault_Handler() {
  semihosting::write("FAULT\n");
  semihosting::exit(false);
}

extern "C" [[noreturn]] void Reset_Handler() {
  // Enable CP10/CP11 (the FPU) before any floating-point instruction runs.
  volatile std::uint32_t& cpacr = *reinterpret_cast<volatile std::uint32_t*>(0xE000ED88u);
  cpacr = cpacr | (0xFu << 20);
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  for (std::uint32_t *src = __data_load, *dst = __data_start; dst < __data_end;) *dst++ = *src++;
  for (std::uint32_t* dst = __bss_start; dst < __bss_end;) *dst++ = 0;
  for (InitFn* f = __init_array_start; f < __init_array_end; ++f) (*f)();
  const int rc = firmware_main();
  semihosting::exit(rc == 0);
}

// Vector table: initial stack pointer, reset, then the system exceptions (all faults stop the run)
// and room for the external interrupts (none used).
using Vector = void (*)();
extern "C" __attribute__((section(".vectors"), used)) const Vector vector_table[16 + 32] = {
    reinterpret_cast<Vector>(__stack_top),
    Reset_Handler,
    Fault_Handler,  // NMI
    Fault_Handler,  // HardFault
    Fault_Handler,  // MemManage
    Fault_Handler,  // BusFault
    Fault_Handler,  // UsageFault
    nullptr, nullptr, nullptr, nullptr,
    Fault_Handler,  // SVCall
    Fault_Handler,  // DebugMonitor
    nullptr,
    Fault_Handler,  // PendSV
    Fault_Handler,  // SysTick
};

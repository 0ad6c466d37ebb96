/*
 * A stand-in for bcryptprimitives.dll, which wine 8 lacks and Rust's standard
 * library imports (ProcessPrng). Test-only: it never goes into a dist.
 */
#include <windows.h>
#define SystemFunction036 NTAPI SystemFunction036
#include <ntsecapi.h>
#undef SystemFunction036
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T size) { return RtlGenRandom(data, (ULONG)size); }

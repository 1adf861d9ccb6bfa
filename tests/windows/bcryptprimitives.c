/* Test-only stand-in for Windows' bcryptprimitives.dll, which Wine 8 lacks.
 *
 * The Rust standard library (1.78 and later) takes its randomness from
 * bcryptprimitives.dll!ProcessPrng, so every Rust program, and the module DLL, fails
 * to load under Wine 8 without it. Real Windows (10 and later) has the DLL; this shim
 * is copied next to the test executables only and never shipped. It answers with
 * BCryptGenRandom from the system RNG, which Wine implements. */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  while (len > 0) {
    ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
    if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
      return FALSE;
    data += chunk;
    len -= chunk;
  }
  return TRUE;
}

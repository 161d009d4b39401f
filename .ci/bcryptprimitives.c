/*
 * bcryptprimitives.dll for Wine, which lacks ProcessPrng: Go's runtime asks
 * bcryptprimitives.dll for it since Go 1.24 and aborts without it. ProcessPrng
 * fills a buffer with random bytes and always succeeds; RtlGenRandom, which
 * advapi32 exports as SystemFunction036, does the same work.
 *
 * x86_64-w64-mingw32-gcc -shared -O2 -s -o bcryptprimitives.dll bcryptprimitives.c
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
	while (length > 0) {
		ULONG n = length > 0x80000000u ? 0x80000000u : (ULONG)length;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		length -= n;
	}
	return TRUE;
}

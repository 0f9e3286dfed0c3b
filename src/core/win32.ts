/**
 * Win32 calls through koffi, the one way every Windows part binds them (process details, ETW, the
 * control pipe, the Service Control Manager): koffi is required on first use, so it is never loaded
 * on another OS, and a DLL's functions are declared by their C prototype.
 */

/** A bound Win32 function: called on the main thread, or on a koffi worker with .async(...args, callback). */
export type Win32Fn = ((...args: unknown[]) => unknown) & { async(...args: unknown[]): void };

export interface Win32Api {
  koffi: typeof import('koffi');
  /** The binder of one DLL: `dll('kernel32.dll')('int __stdcall CloseHandle(void *h)')`. */
  dll(name: string): (decl: string) => Win32Fn;
}

export function win32Api(): Win32Api {
  const koffi = require('koffi') as typeof import('koffi');
  return {
    koffi,
    dll(name) {
      const lib = koffi.load(name);
      return (decl) => lib.func(decl) as unknown as Win32Fn;
    },
  };
}

/**
 * libc through koffi, the one way the Linux readers (netlink sock_diag, the fd walk) bind C calls:
 * koffi is required on first use, so nothing native is loaded where these readers do not run. A
 * failed load is kept and thrown again on every later call (a bundled module's failed load leaves a
 * hollow module behind, which must not be tried twice).
 */

export interface Libc {
  /** Binds one function by its C prototype: `bind('int close(int)')`. */
  bind<F>(decl: string): F;
  /** errno of the last call made through koffi on this thread. */
  errno(): number;
}

let loaded: Libc | null = null;
let loadError: Error | null = null;

export function libc(): Libc {
  if (loaded) return loaded;
  if (loadError) throw loadError;
  try {
    const koffi = require('koffi') as typeof import('koffi');
    const lib = koffi.load('libc.so.6');
    loaded = { bind: <F>(decl: string) => lib.func(decl) as unknown as F, errno: () => koffi.errno() };
  } catch (err) {
    loadError = err as Error;
    throw err;
  }
  return loaded;
}

/**
 * Named-pipe server calls through koffi (Windows only). Node's net.Server cannot set a pipe's
 * security descriptor, so the control pipe is created here with CreateNamedPipeW and an SDDL,
 * and served with blocking calls on koffi's worker threads (.async). Clients use node:net as usual.
 */
import { win32Api } from '../core/win32';

/** Only LocalSystem and the Administrators group, full access; the DACL is protected (P): nothing inherited. */
export const CONTROL_PIPE_SDDL = 'D:P(A;;GA;;;SY)(A;;GA;;;BA)';

const PIPE_ACCESS_DUPLEX = 0x3;
const FILE_FLAG_FIRST_PIPE_INSTANCE = 0x00080000;
const PIPE_TYPE_BYTE = 0x0;
const PIPE_WAIT = 0x0;
const PIPE_REJECT_REMOTE_CLIENTS = 0x8;
const PIPE_UNLIMITED_INSTANCES = 255;
const SDDL_REVISION_1 = 1;
const SE_KERNEL_OBJECT = 6;
const DACL_SECURITY_INFORMATION = 0x4;
const GENERIC_READ = 0x80000000;
const OPEN_EXISTING = 3;
const INVALID_HANDLE_VALUE = 0xffffffffffffffffn;

export interface PipeApi {
  /** A new instance of the pipe; throws with the Win32 error (231 busy, 5 denied: another owner). */
  create(name: string, first: boolean): unknown;
  /** Waits for a client (on a worker thread); resolves false when the wait failed. */
  connect(h: unknown): Promise<boolean>;
  /** Reads up to max bytes (worker thread); null at end of stream or on a broken pipe. */
  read(h: unknown, max: number): Promise<Buffer | null>;
  write(h: unknown, data: Buffer): Promise<boolean>;
  /** Disconnects the client (also ends a pending read) and closes the instance. */
  disconnect(h: unknown): void;
  close(h: unknown): void;
  /** The DACL the OS holds for the pipe, as SDDL (GetSecurityInfo). */
  descriptor(h: unknown): string;
  /** Opens and closes the pipe as a client: ends a pending connect() wait. */
  poke(name: string): void;
}

let api: PipeApi | null = null;

export function win32Pipe(platform: NodeJS.Platform = process.platform): PipeApi {
  if (platform !== 'win32') throw new Error(`named-pipe security descriptors are a Windows feature, not ${platform}'s`);
  if (api) return api;
  const { koffi, dll } = win32Api();
  const k32 = dll('kernel32.dll');
  const adv = dll('advapi32.dll');
  const CreateNamedPipeW = k32('void * __stdcall CreateNamedPipeW(const char16_t *name, uint32_t openMode, uint32_t pipeMode, uint32_t maxInstances, uint32_t outSize, uint32_t inSize, uint32_t timeout, void *sa)');
  const ConnectNamedPipe = k32('int __stdcall ConnectNamedPipe(void *h, void *overlapped)');
  const DisconnectNamedPipe = k32('int __stdcall DisconnectNamedPipe(void *h)');
  const ReadFile = k32('int __stdcall ReadFile(void *h, void *buf, uint32_t n, _Out_ uint32_t *read, void *overlapped)');
  const WriteFile = k32('int __stdcall WriteFile(void *h, void *buf, uint32_t n, _Out_ uint32_t *written, void *overlapped)');
  const FlushFileBuffers = k32('int __stdcall FlushFileBuffers(void *h)');
  const CloseHandle = k32('int __stdcall CloseHandle(void *h)');
  const CreateFileW = k32('void * __stdcall CreateFileW(const char16_t *name, uint32_t access, uint32_t share, void *sa, uint32_t disposition, uint32_t flags, void *template)');
  const GetLastError = k32('uint32_t __stdcall GetLastError()');
  const LocalFree = k32('void * __stdcall LocalFree(void *p)');
  const ConvertSddl = adv('int __stdcall ConvertStringSecurityDescriptorToSecurityDescriptorW(const char16_t *sddl, uint32_t revision, _Out_ void **sd, void *size)');
  const GetSecurityInfo = adv('uint32_t __stdcall GetSecurityInfo(void *h, int type, uint32_t info, void *owner, void *group, _Out_ void **dacl, void *sacl, _Out_ void **sd)');
  const ToSddl = adv('int __stdcall ConvertSecurityDescriptorToStringSecurityDescriptorW(void *sd, uint32_t revision, uint32_t info, _Out_ void **str, void *len)');
  const invalid = (h: unknown) => h === null || koffi.address(h) === INVALID_HANDLE_VALUE;

  api = {
    create(name, first) {
      const sd: unknown[] = [null];
      if (!ConvertSddl(CONTROL_PIPE_SDDL, SDDL_REVISION_1, sd, null)) throw new Error(`ConvertStringSecurityDescriptorToSecurityDescriptorW failed with error ${GetLastError() as number}`);
      try {
        // SECURITY_ATTRIBUTES (x64): nLength +0, lpSecurityDescriptor +8, bInheritHandle +16.
        const sa = Buffer.alloc(24);
        sa.writeUInt32LE(24, 0);
        sa.writeBigUInt64LE(koffi.address(sd[0]), 8);
        const mode = PIPE_ACCESS_DUPLEX | (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0);
        const h = CreateNamedPipeW(name, mode, PIPE_TYPE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, PIPE_UNLIMITED_INSTANCES, 65536, 65536, 0, sa);
        if (invalid(h)) {
          const err = GetLastError() as number;
          throw Object.assign(new Error(`CreateNamedPipeW(${name}) failed with error ${err}`), { win32: err });
        }
        return h;
      } finally {
        LocalFree(sd[0]);
      }
    },
    connect: (h) => new Promise((resolve) => ConnectNamedPipe.async(h, null, (err: Error | null, ok: number) => resolve(!err && ok !== 0))),
    read: (h, max) => new Promise((resolve) => {
      const buf = Buffer.alloc(max);
      const got = [0];
      ReadFile.async(h, buf, max, got, null, (err: Error | null, ok: number) => {
        const n = got[0] as number;
        resolve(err || !ok || n === 0 ? null : buf.subarray(0, n));
      });
    }),
    write: (h, data) => new Promise((resolve) => {
      WriteFile.async(h, data, data.length, [0], null, (err: Error | null, ok: number) => {
        if (!err && ok) FlushFileBuffers(h);
        resolve(!err && ok !== 0);
      });
    }),
    disconnect: (h) => { DisconnectNamedPipe(h); },
    close: (h) => { CloseHandle(h); },
    descriptor(h) {
      const dacl: unknown[] = [null];
      const sd: unknown[] = [null];
      const rc = GetSecurityInfo(h, SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION, null, null, dacl, null, sd) as number;
      if (rc !== 0) throw new Error(`GetSecurityInfo on the control pipe failed with error ${rc}`);
      try {
        const str: unknown[] = [null];
        if (!ToSddl(sd[0], SDDL_REVISION_1, DACL_SECURITY_INFORMATION, str, null)) throw new Error(`ConvertSecurityDescriptorToStringSecurityDescriptorW failed with error ${GetLastError() as number}`);
        try {
          return koffi.decode.string16(str[0]);
        } finally {
          LocalFree(str[0]);
        }
      } finally {
        LocalFree(sd[0]);
      }
    },
    poke(name) {
      const h = CreateFileW(name, GENERIC_READ, 0, null, OPEN_EXISTING, 0, null);
      if (!invalid(h)) CloseHandle(h);
    },
  };
  return api;
}

/**
 * Whether a DACL in SDDL admits only SYSTEM and Administrators: protected, and every ACE an allow
 * ACE for SY or BA. Pure; the server refuses to serve a pipe whose descriptor the OS changed.
 */
export function admitsOnlySystemAndAdmins(sddl: string): boolean {
  const m = /^D:([A-Z]*)((?:\([^()]*\))+)$/.exec(sddl.trim());
  if (!m || !(m[1] ?? '').includes('P')) return false;
  const aces = (m[2] as string).slice(1, -1).split(')(');
  return aces.length > 0 && aces.every((ace) => {
    const parts = ace.split(';');
    return parts.length >= 6 && parts[0] === 'A' && (parts[5] === 'SY' || parts[5] === 'BA');
  });
}

/**
 * Process facts on Windows through koffi (kernel32, advapi32, ntdll): the calls only; parse.ts
 * decodes every buffer. koffi is required lazily, so other platforms never load it.
 *
 *   executable path  OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION) + QueryFullProcessImageNameW
 *   name, parent     CreateToolhelp32Snapshot + Process32FirstW/NextW (one snapshot per scan)
 *   start time       GetProcessTimes (creation FILETIME)
 *   user             OpenProcessToken + GetTokenInformation(TokenUser) + LookupAccountSidW
 *   command line     the PEB: NtQueryInformationProcess(ProcessBasicInformation) -> PEB ->
 *                    ProcessParameters -> CommandLine, read with ReadProcessMemory (Windows 8.1+
 *                    also has ProcessCommandLineInformation, which Wine does not implement)
 * A protected process (access denied) yields what Toolhelp knows plus a warning.
 */
import type { ProcessInfo } from '../../../src/core/types';
import type { WarningCollector } from '../../../src/core/warnings';
import {
  fileTimeToIso, MAX_COMMAND_LINE_BYTES, PARAMETERS_COMMAND_LINE, parseProcessEntry, parseUnicodeString, PEB_PROCESS_PARAMETERS,
  pointerAt, PROCESS_BASIC_INFORMATION_SIZE, PROCESSENTRY32W_SIZE, splitCommandLine, type ToolhelpEntry, utf16z,
} from './parse';
import { win32Api } from '../../../src/core/win32';

const PROCESS_QUERY_LIMITED_INFORMATION = 0x1000;
const PROCESS_VM_READ = 0x0010;
const TOKEN_QUERY = 0x0008;
const TH32CS_SNAPPROCESS = 0x2;
const TOKEN_USER_CLASS = 1;
const ERROR_ACCESS_DENIED = 5;
const INVALID_HANDLE_VALUE = -1n;


export interface Win32Process {
  /** Every process: pid -> Toolhelp entry. */
  processes(): Map<number, ToolhelpEntry>;
  /** Reads the facts of one process; `null` fields it could not read, with the Win32 error. */
  query(pid: number): { exe?: string; startTime?: string; user?: string; cmdline?: string; error?: number };
}

function loadWin32(): Win32Process {
  const { koffi, dll } = win32Api();
  const k32 = dll('kernel32.dll');
  const adv = dll('advapi32.dll');
  const nt = dll('ntdll.dll');
  const OpenProcess = k32('void * __stdcall OpenProcess(uint32_t access, int inherit, uint32_t pid)');
  const CloseHandle = k32('int __stdcall CloseHandle(void *h)');
  const GetLastError = k32('uint32_t __stdcall GetLastError()');
  const QueryFullProcessImageNameW = k32('int __stdcall QueryFullProcessImageNameW(void *h, uint32_t flags, void *name, _Inout_ uint32_t *size)');
  const GetProcessTimes = k32('int __stdcall GetProcessTimes(void *h, void *creation, void *exit, void *kernel, void *user)');
  const CreateToolhelp32Snapshot = k32('void * __stdcall CreateToolhelp32Snapshot(uint32_t flags, uint32_t pid)');
  const Process32FirstW = k32('int __stdcall Process32FirstW(void *snap, void *entry)');
  const Process32NextW = k32('int __stdcall Process32NextW(void *snap, void *entry)');
  const ReadProcessMemory = k32('int __stdcall ReadProcessMemory(void *h, uint64_t address, void *buf, uint64_t size, _Out_ uint64_t *read)');
  const OpenProcessToken = adv('int __stdcall OpenProcessToken(void *h, uint32_t access, _Out_ void **token)');
  const GetTokenInformation = adv('int __stdcall GetTokenInformation(void *token, int cls, void *info, uint32_t len, _Out_ uint32_t *ret)');
  const LookupAccountSidW = adv('int __stdcall LookupAccountSidW(void *system, void *sid, void *name, _Inout_ uint32_t *cchName, void *domain, _Inout_ uint32_t *cchDomain, _Out_ int *use)');
  const NtQueryInformationProcess = nt('int32_t __stdcall NtQueryInformationProcess(void *h, int cls, void *info, uint32_t len, _Out_ uint32_t *ret)');

  const isInvalid = (h: unknown) => h === null || koffi.address(h) === INVALID_HANDLE_VALUE || koffi.address(h) === 0xffffffffffffffffn;

  function readMemory(h: unknown, address: bigint, size: number): Buffer | null {
    const buf = Buffer.alloc(size);
    const got = [0];
    return ReadProcessMemory(h, address, buf, size, got) ? buf : null;
  }

  function commandLine(h: unknown): string | undefined {
    const pbi = Buffer.alloc(PROCESS_BASIC_INFORMATION_SIZE);
    if (NtQueryInformationProcess(h, 0, pbi, pbi.length, [0]) !== 0) return undefined;
    const peb = pointerAt(pbi, 8);
    if (peb === 0n) return undefined;
    const params = readMemory(h, peb + BigInt(PEB_PROCESS_PARAMETERS), 8);
    if (!params) return undefined;
    const us = readMemory(h, pointerAt(params, 0) + BigInt(PARAMETERS_COMMAND_LINE), 16);
    if (!us) return undefined;
    const { length, buffer } = parseUnicodeString(us);
    if (length === 0 || length > MAX_COMMAND_LINE_BYTES) return length === 0 ? '' : undefined;
    const text = readMemory(h, buffer, length);
    return text ? text.toString('utf16le') : undefined;
  }

  function user(h: unknown): string | undefined {
    const tok: unknown[] = [null];
    if (!OpenProcessToken(h, TOKEN_QUERY, tok)) return undefined;
    try {
      const info = Buffer.alloc(256);
      if (!GetTokenInformation(tok[0], TOKEN_USER_CLASS, info, info.length, [0])) return undefined;
      // TOKEN_USER starts with the SID pointer, which points into `info` itself.
      const sid = koffi.decode(info, 'void *');
      const name = Buffer.alloc(512);
      const domain = Buffer.alloc(512);
      if (!LookupAccountSidW(null, sid, name, [256], domain, [256], [0])) return undefined;
      const d = utf16z(domain);
      return d ? `${d}\\${utf16z(name)}` : utf16z(name);
    } finally {
      CloseHandle(tok[0]);
    }
  }

  return {
    processes() {
      const snap = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
      if (isInvalid(snap)) throw new Error(`CreateToolhelp32Snapshot failed with error ${GetLastError() as number}`);
      const out = new Map<number, ToolhelpEntry>();
      try {
        const entry = Buffer.alloc(PROCESSENTRY32W_SIZE);
        entry.writeUInt32LE(PROCESSENTRY32W_SIZE, 0);
        for (let ok = Process32FirstW(snap, entry); ok; ok = Process32NextW(snap, entry)) {
          const e = parseProcessEntry(entry);
          out.set(e.pid, e);
        }
      } finally {
        CloseHandle(snap);
      }
      return out;
    },
    query(pid) {
      let h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_VM_READ, 0, pid);
      if (h === null) h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
      if (h === null) return { error: GetLastError() as number };
      try {
        const out: ReturnType<Win32Process['query']> = {};
        const name = Buffer.alloc(2 * 32768);
        const size = [32768];
        if (QueryFullProcessImageNameW(h, 0, name, size)) out.exe = name.toString('utf16le', 0, 2 * (size[0] as number));
        const times = [0, 1, 2, 3].map(() => Buffer.alloc(8)) as [Buffer, Buffer, Buffer, Buffer];
        if (GetProcessTimes(h, ...times)) out.startTime = fileTimeToIso(times[0]) ?? undefined;
        out.user = user(h);
        out.cmdline = commandLine(h);
        return out;
      } finally {
        CloseHandle(h);
      }
    },
  };
}

let win32: Win32Process | null = null;

/** The koffi bindings, loaded once. Throws on any platform but Windows. */
export function win32Process(platform: NodeJS.Platform = process.platform): Win32Process {
  if (platform !== 'win32') throw new Error(`the Win32 process API exists on Windows only, not on ${platform}`);
  win32 ??= loadWin32();
  return win32;
}

/**
 * The ProcessInfo of a socket owner. `notAfter` (ISO) is when the socket table was read: a process
 * created after it holds a reused pid, so it is not the owner (null, and a warning).
 */
export function processInfo(api: Win32Process, pid: number, entries: Map<number, ToolhelpEntry>, warn: WarningCollector, notAfter?: string): ProcessInfo | null {
  const entry = entries.get(pid);
  const q = api.query(pid);
  if (q.error !== undefined && !entry) {
    warn.add('proc-vanished', 'a socket owner exited before it could be read; its connection is reported without a process');
    return null;
  }
  if (q.startTime && notAfter && q.startTime > notAfter) {
    warn.add('proc-pid-reused', 'a socket owner\'s pid was reused by a newer process before it could be read; not attributed');
    return null;
  }
  const info: ProcessInfo = { pid };
  if (entry) { info.name = entry.name; info.ppid = entry.ppid; }
  if (q.error === ERROR_ACCESS_DENIED) {
    warn.add('proc-access-denied', 'some socket owners are protected processes (access denied): only their name and parent are reported (run as an administrator or SYSTEM)');
  } else if (q.error !== undefined) {
    warn.add('proc-unreadable', `OpenProcess failed with error ${q.error} for some socket owners: only their name and parent are reported`);
  }
  if (q.exe !== undefined) info.exe = q.exe;
  if (q.startTime !== undefined) info.startTime = q.startTime;
  if (q.user !== undefined) info.user = q.user;
  if (q.cmdline !== undefined) { info.cmdline = q.cmdline; info.argv = splitCommandLine(q.cmdline); }
  if (q.error === undefined && (q.exe === undefined || q.cmdline === undefined)) {
    warn.add('proc-partial', 'the executable path or command line of some socket owners could not be read');
  }
  const parent = entry ? entries.get(entry.ppid) : undefined;
  if (parent && entry && entry.ppid !== 0) {
    // Windows keeps the parent pid of an exited parent: the parent is real only if it started first.
    const pq = api.query(entry.ppid);
    if (!(pq.startTime && q.startTime && pq.startTime > q.startTime)) {
      info.parentName = parent.name;
      if (pq.exe !== undefined) info.parentExe = pq.exe;
    }
  }
  return info;
}

/**
 * The ETW real-time session through koffi (advapi32): StartTraceW, EnableTraceEx2 for
 * Microsoft-Windows-Kernel-Network, OpenTraceW with an EventRecordCallback, ProcessTrace on a
 * worker thread (koffi's .async; koffi queues the callback onto the main thread), ControlTraceW
 * to stop. parse.ts builds and decodes every structure. Loaded on Windows only.
 *
 * Failure is judged where it shows: StartTraceW and EnableTraceEx2 can "succeed" on a system that
 * delivers nothing (Wine stubs them), so OpenTraceW and ProcessTrace failing - or ProcessTrace
 * returning while the session should run - is what makes the daemon fall back to polling.
 */
import { buildTraceProperties, EVENT_RECORD_SIZE, guidBytes, KERNEL_NETWORK_KEYWORDS, KERNEL_NETWORK_PROVIDER, parseEventHeader, type EventHeader } from './parse';
import { win32Api } from '../../../src/core/win32';

const ERROR_ALREADY_EXISTS = 183;
const EVENT_TRACE_CONTROL_STOP = 1;
const EVENT_CONTROL_CODE_ENABLE_PROVIDER = 1;
const TRACE_LEVEL_INFORMATION = 4;
const PROCESS_TRACE_MODE_REAL_TIME = 0x00000100;
const PROCESS_TRACE_MODE_EVENT_RECORD = 0x10000000;
const INVALID_PROCESSTRACE_HANDLE = 0xffffffffffffffffn;
/** EVENT_TRACE_LOGFILEW (x64): LoggerName +8, ProcessTraceMode +28, EventRecordCallback +424; 448 bytes. */
const LOGFILE_SIZE = 448;

export const SESSION_NAME = 'brokerwatch-kernel-network';

export interface EtwSession {
  /** Stops the session and closes the consumer; idempotent. */
  stop(): void;
}

export interface EtwHandlers {
  onEvent(header: EventHeader, payload: Buffer): void;
  /** ProcessTrace returned: the session is gone (error code, 0 = stopped normally). */
  onEnd(code: number): void;
}

/** Starts the session and the consumer. Throws one clear line when the OS will not deliver events. */
export function startKernelNetworkSession(handlers: EtwHandlers, log: (line: string) => void, platform: NodeJS.Platform = process.platform): EtwSession {
  if (platform !== 'win32') throw new Error(`ETW exists on Windows only, not on ${platform}`);
  const { koffi, dll } = win32Api();
  const f = dll('advapi32.dll');
  const StartTraceW = f('uint32_t __stdcall StartTraceW(_Out_ uint64_t *handle, const char16_t *name, void *props)');
  const ControlTraceW = f('uint32_t __stdcall ControlTraceW(uint64_t handle, const char16_t *name, void *props, uint32_t code)');
  const EnableTraceEx2 = f('uint32_t __stdcall EnableTraceEx2(uint64_t handle, void *provider, uint32_t code, uint8_t level, uint64_t any, uint64_t all, uint32_t timeout, void *params)');
  const OpenTraceW = f('uint64_t __stdcall OpenTraceW(void *logfile)');
  const ProcessTrace = f('uint32_t __stdcall ProcessTrace(void *handles, uint32_t count, void *start, void *end)');
  const CloseTrace = f('uint32_t __stdcall CloseTrace(uint64_t handle)');
  const GetLastError = dll('kernel32.dll')('uint32_t __stdcall GetLastError()') as () => number;

  const stopByName = () => ControlTraceW(0, SESSION_NAME, buildTraceProperties(SESSION_NAME), EVENT_TRACE_CONTROL_STOP) as number;
  const handle = [0n];
  let rc = StartTraceW(handle, SESSION_NAME, buildTraceProperties(SESSION_NAME)) as number;
  if (rc === ERROR_ALREADY_EXISTS) {
    // A session of ours survived a crash: stop it and start afresh.
    log(`ETW: a stale ${SESSION_NAME} session was left running (previous agent crashed?); stopping it and starting a new one`);
    stopByName();
    rc = StartTraceW(handle, SESSION_NAME, buildTraceProperties(SESSION_NAME)) as number;
  }
  if (rc !== 0) throw new Error(`StartTraceW failed with error ${rc}${rc === 5 ? ' (access denied: run as an administrator or SYSTEM)' : ''}`);
  const session = BigInt(handle[0] as bigint | number);
  let stopped = false;
  let consumer = INVALID_PROCESSTRACE_HANDLE;
  let callback: unknown = null;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    stopByName();
    if (consumer !== INVALID_PROCESSTRACE_HANDLE) CloseTrace(consumer);
    if (callback !== null) setTimeout(() => koffi.unregister(callback as bigint), 1000).unref();
  };
  try {
    rc = EnableTraceEx2(session, guidBytes(KERNEL_NETWORK_PROVIDER), EVENT_CONTROL_CODE_ENABLE_PROVIDER, TRACE_LEVEL_INFORMATION, KERNEL_NETWORK_KEYWORDS, 0n, 0, null) as number;
    if (rc !== 0) throw new Error(`EnableTraceEx2(Microsoft-Windows-Kernel-Network) failed with error ${rc}`);

    const proto = koffi.proto('void __stdcall BrokerwatchEventRecordCallback(void *record)');
    callback = koffi.register((record: unknown) => {
      try {
        const head = Buffer.from(koffi.view(record, EVENT_RECORD_SIZE));
        const header = parseEventHeader(head);
        const userData = koffi.decode(record, 96, 'void *');
        const payload = header.userDataLength > 0 && userData !== null ? Buffer.from(koffi.view(userData, header.userDataLength)) : Buffer.alloc(0);
        handlers.onEvent(header, payload);
      } catch {
        // A record we cannot decode is dropped here; the source counts decode failures.
      }
    }, koffi.pointer(proto));
    const logfile = Buffer.alloc(LOGFILE_SIZE);
    const nameBuf = Buffer.from(`${SESSION_NAME}\0`, 'utf16le');
    logfile.writeBigUInt64LE(koffi.address(nameBuf), 8);
    logfile.writeUInt32LE(PROCESS_TRACE_MODE_REAL_TIME | PROCESS_TRACE_MODE_EVENT_RECORD, 28);
    logfile.writeBigUInt64LE(koffi.address(callback), 424);
    consumer = BigInt(OpenTraceW(logfile) as bigint | number);
    if (consumer === INVALID_PROCESSTRACE_HANDLE) {
      const err = GetLastError();
      throw new Error(`OpenTraceW(${SESSION_NAME}) failed with error ${err}: the system starts the session but will not deliver its events`);
    }
    const handles = Buffer.alloc(8);
    handles.writeBigUInt64LE(consumer, 0);
    ProcessTrace.async(handles, 1, null, null, (err: Error | null, code: number) => {
      handlers.onEnd(err ? -1 : code);
    });
  } catch (err) {
    stop();
    throw err;
  }
  process.once('exit', stop);
  return { stop };
}

/**
 * The Windows service side of `brokerwatch run --service`: a Service Control Manager dispatcher
 * through koffi. StartServiceCtrlDispatcherW runs on a koffi worker thread (.async) for the life of
 * the service; the SCM calls ServiceMain and HandlerEx on threads of its own, and koffi queues
 * those calls onto the main thread. ServiceMain registers the handler and reports START_PENDING;
 * run reports RUNNING once capture and the control pipe are up, STOP_PENDING while the sinks flush
 * (STOP or SHUTDOWN), and STOPPED last. Without a dispatcher the SCM fails the start (error 1053).
 */
import { win32Api } from '../core/win32';

export const SERVICE_NAME = 'brokerwatch';

const SERVICE_WIN32_OWN_PROCESS = 0x10;
const SERVICE_STOPPED = 1;
const SERVICE_START_PENDING = 2;
const SERVICE_STOP_PENDING = 3;
const SERVICE_RUNNING = 4;
const SERVICE_ACCEPT_STOP = 0x1;
const SERVICE_ACCEPT_SHUTDOWN = 0x4;
const SERVICE_CONTROL_STOP = 1;
const SERVICE_CONTROL_INTERROGATE = 4;
const SERVICE_CONTROL_SHUTDOWN = 5;
const NO_ERROR = 0;
const ERROR_CALL_NOT_IMPLEMENTED = 120;
/** dwWin32ExitCode that says "see dwServiceSpecificExitCode". */
const ERROR_SERVICE_SPECIFIC_ERROR = 1066;

export interface ScmService {
  /** Capture and the control pipe run: report RUNNING. */
  running(): void;
  /** The agent stopped: report STOPPED with the exit code (0 clean). */
  stopped(code: number): void;
}

export interface ScmHandlers {
  /** STOP or SHUTDOWN from the SCM: flush the sinks and exit (run's stop). */
  stop(why: string): void;
  /** The dispatcher returned or failed (not started by the SCM: error 1063). */
  ended(error: string | null): void;
}

export function startScmDispatcher(handlers: ScmHandlers, name = SERVICE_NAME): ScmService {
  if (process.platform !== 'win32') throw new Error('run --service is for the Windows Service Control Manager');
  const { koffi, dll } = win32Api();
  const adv = dll('advapi32.dll');
  const k32 = dll('kernel32.dll');
  const StartServiceCtrlDispatcherW = adv('int __stdcall StartServiceCtrlDispatcherW(void *table)');
  const RegisterServiceCtrlHandlerExW = adv('void * __stdcall RegisterServiceCtrlHandlerExW(const char16_t *name, void *handler, void *context)');
  const SetServiceStatus = adv('int __stdcall SetServiceStatus(void *handle, void *status)');
  const GetLastError = k32('uint32_t __stdcall GetLastError()');
  const ServiceMain = koffi.proto('void __stdcall BrokerwatchServiceMain(uint32_t argc, void *argv)');
  const HandlerEx = koffi.proto('uint32_t __stdcall BrokerwatchHandlerEx(uint32_t control, uint32_t eventType, void *eventData, void *context)');

  let handle: unknown = null;
  let state = SERVICE_START_PENDING;
  let checkPoint = 0;
  let exitCode = 0;

  const report = (next: number, waitHintMs = 0) => {
    state = next;
    if (handle === null) return; // ServiceMain not called yet: it reports the current state
    // SERVICE_STATUS: seven DWORDs.
    const s = Buffer.alloc(28);
    const accepts = next === SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
    const pending = next === SERVICE_START_PENDING || next === SERVICE_STOP_PENDING;
    [SERVICE_WIN32_OWN_PROCESS, next, accepts, exitCode === 0 ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR, exitCode, pending ? ++checkPoint : 0, waitHintMs]
      .forEach((v, i) => s.writeUInt32LE(v, i * 4));
    SetServiceStatus(handle, s);
  };

  const handler = koffi.register((control: number) => {
    if (control === SERVICE_CONTROL_STOP || control === SERVICE_CONTROL_SHUTDOWN) {
      report(SERVICE_STOP_PENDING, 30_000);
      handlers.stop(control === SERVICE_CONTROL_STOP ? 'service stop requested by the Service Control Manager' : 'system shutdown');
      return NO_ERROR;
    }
    return control === SERVICE_CONTROL_INTERROGATE ? NO_ERROR : ERROR_CALL_NOT_IMPLEMENTED;
  }, koffi.pointer(HandlerEx));

  const main = koffi.register(() => {
    handle = RegisterServiceCtrlHandlerExW(name, handler, null);
    if (handle === null) {
      handlers.ended(`RegisterServiceCtrlHandlerExW failed with error ${GetLastError() as number}`);
      return;
    }
    report(state, state === SERVICE_START_PENDING ? 30_000 : 0);
  }, koffi.pointer(ServiceMain));

  // SERVICE_TABLE_ENTRYW[2] (x64: name pointer, ServiceMain pointer; then a null entry). Kept alive in this closure.
  const nameBuf = Buffer.from(`${name}\0`, 'utf16le');
  const table = Buffer.alloc(32);
  table.writeBigUInt64LE(koffi.address(nameBuf), 0);
  table.writeBigUInt64LE(koffi.address(main), 8);
  StartServiceCtrlDispatcherW.async(table, (err: Error | null, ok: number) => {
    void nameBuf; // referenced so it lives until the dispatcher returns
    // GetLastError would be read on another thread here: the likely cause is named instead (ERROR_FAILED_SERVICE_CONTROLLER_CONNECT).
    handlers.ended(err ? err.message : ok ? null : 'StartServiceCtrlDispatcherW failed: not started by the Service Control Manager? (start the service with sc.exe start brokerwatch)');
    koffi.unregister(main);
    koffi.unregister(handler);
  });

  return {
    running: () => report(SERVICE_RUNNING),
    stopped(code) {
      exitCode = code;
      report(SERVICE_STOPPED);
    },
  };
}

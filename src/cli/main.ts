import { ConfigError } from '../config/errors';
import { AdapterUnavailableError } from '../core/source';
import { safeText } from '../core/text';
import { UsageError } from './args';
import { type CliIO, EXIT, processIO, version } from './common';

export const MAIN_HELP = `brokerwatch - which process talks to which publish/subscribe broker (MITRE ATT&CK T1071.005)

Usage: brokerwatch <command> [options]

Commands:
  scan              look once at this host's sockets and judge every outbound connection to an
                    MQTT, XMPP, AMQP or STOMP broker (exit 0 none, 1 findings, 2 error)
  run               the agent: capture continuously, judge, correlate over time, send to sinks
                    (foreground until SIGTERM; SIGHUP reloads the config)
  replay            run recorded events (Sysmon Event ID 3, UDM, brokerwatch JSON) through the
                    same analysis, with their own timestamps (exit 0 none, 1 findings, 2 error)
  validate-config   check a configuration file (exit 0 valid, 2 invalid)
  export-rule       write the Google SecOps YARA-L or the Sigma rule for this configuration
  selftest          prove the sensor on this host: the three T1071.005 tests on loopback, through
                    the daemon's capture (exit 0 all detected, 1 one missed, 2 error)
  status            ask the running agent how it is doing (pid, uptime, capture, counters)
  reload            make the running agent re-read its config (a bad one is refused)
  stop              stop the running agent cleanly (flushes its sinks)
  install           install and start the agent as a system service (systemd, launchd)
  uninstall         stop and remove the service (config and state kept unless --purge)
  help [command]    show help for a command
  version           print the version

Start here:
  sudo brokerwatch scan                 # uses the embedded default config
  brokerwatch scan --help               # every option, with examples
  brokerwatch validate-config --config my.yaml

The default configuration (config/default.yaml in the package) documents every setting.
`;

interface Command {
  help: string;
  run(argv: string[], io: CliIO): Promise<number>;
}

/*
 * Each command's module is loaded only when that command runs (or its help is asked for): `scan`
 * does not pay for the daemon, the sinks' TLS and HTTP clients or the installer, `--version` for
 * nothing at all. require() rather than import(): the release binary's code cache cannot hold
 * dynamic imports, and the bundler resolves require() statically.
 */
const COMMANDS: Record<string, () => Command> = {
  scan: () => { const m = require('./scan') as typeof import('./scan'); return { help: m.SCAN_HELP, run: (argv, io) => m.scanCommand(argv, { io }) }; },
  run: () => { const m = require('./run') as typeof import('./run'); return { help: m.RUN_HELP, run: m.runCommand }; },
  replay: () => { const m = require('./replay') as typeof import('./replay'); return { help: m.REPLAY_HELP, run: m.replayCommand }; },
  'validate-config': () => { const m = require('./validate-config') as typeof import('./validate-config'); return { help: m.VALIDATE_HELP, run: m.validateConfigCommand }; },
  'export-rule': () => { const m = require('./export-rule') as typeof import('./export-rule'); return { help: m.EXPORT_RULE_HELP, run: m.exportRuleCommand }; },
  selftest: () => { const m = require('./selftest') as typeof import('./selftest'); return { help: m.SELFTEST_HELP, run: m.selftestCommand }; },
  status: () => { const m = require('./status') as typeof import('./status'); return { help: m.STATUS_HELP, run: m.statusCommand }; },
  reload: () => { const m = require('./reload') as typeof import('./reload'); return { help: m.RELOAD_HELP, run: m.reloadCommand }; },
  stop: () => { const m = require('./stop') as typeof import('./stop'); return { help: m.STOP_HELP, run: m.stopCommand }; },
  install: () => { const m = require('./install') as typeof import('./install'); return { help: m.INSTALL_HELP, run: (argv, io) => m.installCommand(argv, { io }) }; },
  uninstall: () => { const m = require('./uninstall') as typeof import('./uninstall'); return { help: m.UNINSTALL_HELP, run: (argv, io) => m.uninstallCommand(argv, { io }) }; },
};

const commandNamed = (name: string | undefined): Command | undefined => (name !== undefined && Object.hasOwn(COMMANDS, name) ? (COMMANDS[name] as () => Command)() : undefined);

/** Runs one CLI invocation and returns its exit code. Never throws: every error is one clear message. */
export async function main(argv: string[], io: CliIO = processIO): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '--help' || command === '-h') {
      io.stdout(MAIN_HELP);
      return command === undefined ? EXIT.error : EXIT.ok;
    }
    if (command === 'help') {
      const topic = commandNamed(rest[0]);
      io.stdout(topic ? topic.help : MAIN_HELP);
      // `help`, `help --help`, `help help` and `help version` ask for the list; anything else is a typo, said in one line.
      if (rest[0] === undefined || topic || ['--help', '-h', 'help', 'version'].includes(rest[0])) return EXIT.ok;
      io.stderr(`brokerwatch: no help for ${JSON.stringify(safeText(rest[0], 60))}: not a command (the list is above)\n`);
      return EXIT.error;
    }
    if (command === 'version' || command === '--version' || command === '-V') {
      io.stdout(`${version()}\n`);
      return EXIT.ok;
    }
    const cmd = commandNamed(command);
    if (!cmd) throw new UsageError(`unknown command ${JSON.stringify(command)}; run brokerwatch --help for the list`);
    return await cmd.run(rest, io);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr(`brokerwatch: invalid configuration:\n${err.problems.map((p) => `  ${p}`).join('\n')}\n`);
    } else if (err instanceof UsageError) {
      io.stderr(`brokerwatch: ${err.message}\n${command && Object.hasOwn(COMMANDS, command) ? `Run brokerwatch ${command} --help for usage.\n` : ''}`);
    } else if (err instanceof AdapterUnavailableError) {
      io.stderr(`brokerwatch: ${err.message}\n`);
    } else {
      const e = err as NodeJS.ErrnoException;
      io.stderr(`brokerwatch: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}\n`);
      if (process.env.BROKERWATCH_DEBUG) io.stderr(`${e.stack ?? ''}\n`);
    }
    return EXIT.error;
  }
}

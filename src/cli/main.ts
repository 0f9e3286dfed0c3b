import { ConfigError } from '../config/errors';
import { AdapterUnavailableError } from '../core/source';
import { safeText } from '../core/text';
import { UsageError } from './args';
import { type CliIO, EXIT, processIO, version } from './common';
import { EXPORT_RULE_HELP, exportRuleCommand } from './export-rule';
import { INSTALL_HELP, installCommand } from './install';
import { RELOAD_HELP, reloadCommand } from './reload';
import { REPLAY_HELP, replayCommand } from './replay';
import { RUN_HELP, runCommand } from './run';
import { SCAN_HELP, scanCommand } from './scan';
import { SELFTEST_HELP, selftestCommand } from './selftest';
import { STATUS_HELP, statusCommand } from './status';
import { STOP_HELP, stopCommand } from './stop';
import { UNINSTALL_HELP, uninstallCommand } from './uninstall';
import { VALIDATE_HELP, validateConfigCommand } from './validate-config';

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

const COMMANDS: Record<string, { help: string; run(argv: string[], io: CliIO): Promise<number> }> = {
  scan: { help: SCAN_HELP, run: (argv, io) => scanCommand(argv, { io }) },
  run: { help: RUN_HELP, run: runCommand },
  replay: { help: REPLAY_HELP, run: replayCommand },
  'validate-config': { help: VALIDATE_HELP, run: validateConfigCommand },
  'export-rule': { help: EXPORT_RULE_HELP, run: exportRuleCommand },
  selftest: { help: SELFTEST_HELP, run: selftestCommand },
  status: { help: STATUS_HELP, run: statusCommand },
  reload: { help: RELOAD_HELP, run: reloadCommand },
  stop: { help: STOP_HELP, run: stopCommand },
  install: { help: INSTALL_HELP, run: (argv, io) => installCommand(argv, { io }) },
  uninstall: { help: UNINSTALL_HELP, run: (argv, io) => uninstallCommand(argv, { io }) },
};

/** Runs one CLI invocation and returns its exit code. Never throws: every error is one clear message. */
export async function main(argv: string[], io: CliIO = processIO): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '--help' || command === '-h') {
      io.stdout(MAIN_HELP);
      return command === undefined ? EXIT.error : EXIT.ok;
    }
    if (command === 'help') {
      const topic = rest[0];
      io.stdout(topic && COMMANDS[topic] ? COMMANDS[topic].help : MAIN_HELP);
      // `help`, `help --help`, `help help` and `help version` ask for the list; anything else is a typo, said in one line.
      if (topic === undefined || COMMANDS[topic] || ['--help', '-h', 'help', 'version'].includes(topic)) return EXIT.ok;
      io.stderr(`brokerwatch: no help for ${JSON.stringify(safeText(topic, 60))}: not a command (the list is above)\n`);
      return EXIT.error;
    }
    if (command === 'version' || command === '--version' || command === '-V') {
      io.stdout(`${version()}\n`);
      return EXIT.ok;
    }
    const cmd = COMMANDS[command];
    if (!cmd) throw new UsageError(`unknown command ${JSON.stringify(command)}; run brokerwatch --help for the list`);
    return await cmd.run(rest, io);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr(`brokerwatch: invalid configuration:\n${err.problems.map((p) => `  ${p}`).join('\n')}\n`);
    } else if (err instanceof UsageError) {
      io.stderr(`brokerwatch: ${err.message}\n${command && COMMANDS[command] ? `Run brokerwatch ${command} --help for usage.\n` : ''}`);
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

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detectServiceManager, planLogging } from '../../src/service/log-plan';

describe('planLogging', () => {
  it('systemd: stderr only (the journal), plus a file only when the config names one', () => {
    assert.equal(detectServiceManager({ INVOCATION_ID: 'abc' }), 'systemd');
    assert.equal(detectServiceManager({ JOURNAL_STREAM: '8:123' }), 'systemd');
    const p = planLogging({ level: 'info', file: null }, { env: { BROKERWATCH_SERVICE: 'systemd' }, platform: 'linux' });
    assert.deepEqual([p.console, p.file], [true, undefined]);
    assert.match(p.why, /journalctl -u brokerwatch/);
    assert.equal(planLogging({ level: 'debug', file: '/var/log/brokerwatch/agent.log' }, { env: { INVOCATION_ID: 'x' } }).file, '/var/log/brokerwatch/agent.log');
  });

  it('launchd: a rotated file in /Library/Logs, not stderr', () => {
    const p = planLogging({ level: 'warn', file: null }, { env: { BROKERWATCH_SERVICE: 'launchd' }, platform: 'darwin' });
    assert.deepEqual({ console: p.console, file: p.file, level: p.level, maxSize: p.maxSize, maxFiles: p.maxFiles },
      { console: false, file: '/Library/Logs/brokerwatch/brokerwatch.log', level: 'warn', maxSize: 10 * 1024 * 1024, maxFiles: 5 });
  });

  it('a terminal (no service manager): stderr', () => {
    assert.equal(detectServiceManager({}), null);
    const p = planLogging({ level: 'info', file: null }, { env: {}, platform: 'linux' });
    assert.deepEqual([p.console, p.file, p.why], [true, undefined, 'logging to stderr']);
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { baseName, osNameOf } from '../../src/analyzer/processes';
import { readMqttCliIntent, scoreTopicAnomaly, shannonEntropy } from '../../src/analyzer/topics';
import { parseCmdline } from '../../platform/linux/procfs/parse';
import { fixtureBytes, readCapture } from '../fixtures/linux/materialize-proctree';
import { rulesWith } from './_events';

const settings = rulesWith().topic;
assert.ok(settings, 'topic anomaly scoring is on by default');

describe('readMqttCliIntent', () => {
  test('real argv of the captured mosquitto_pub and mosquitto_sub', () => {
    const capture = readCapture();
    const argvOf = (role: string) => parseCmdline(fixtureBytes(`proctree/${capture.roles[role]}/cmdline`));
    assert.deepEqual(readMqttCliIntent({ pid: 1, exe: '/usr/bin/mosquitto_pub', argv: argvOf('client:mosquitto_pub') }), { topics: ['c2/beacon'], payloadSource: 'stdin-lines' });
    assert.deepEqual(readMqttCliIntent({ pid: 1, exe: '/usr/bin/mosquitto_sub', argv: argvOf('client:mosquitto_sub') }), { topics: ['c2/commands/#'] });
    assert.deepEqual(readMqttCliIntent({ pid: 1, exe: '/usr/bin/mosquitto_pub', argv: argvOf('client:mosquitto_pub-benign') }), { topics: ['sensors/kitchen/temp'], payloadSource: 'stdin-lines' });
  });

  test('long options, several topics, -f/-s/-n, -L URLs', () => {
    const intent = readMqttCliIntent({ pid: 1, exe: '/usr/bin/mosquitto_pub', argv: ['mosquitto_pub', '--topic', 'a/b', '-t', 'c/d', '--message', 'hi', '-q', '1'] });
    assert.deepEqual(intent, { topics: ['a/b', 'c/d'], message: 'hi' });
    assert.equal(readMqttCliIntent({ pid: 1, exe: '/usr/bin/mosquitto_pub', argv: ['mosquitto_pub', '-t', 'x', '-f', '/etc/shadow'] })?.payloadSource, 'file');
    assert.equal(readMqttCliIntent({ pid: 1, exe: '/usr/bin/mosquitto_pub', argv: ['mosquitto_pub', '-t', 'x', '-s'] })?.payloadSource, 'stdin');
    assert.equal(readMqttCliIntent({ pid: 1, exe: '/usr/bin/mosquitto_pub', argv: ['mosquitto_pub', '-t', 'x', '-n'] })?.payloadSource, 'null');
    assert.deepEqual(readMqttCliIntent({ pid: 1, exe: '/usr/bin/mosquitto_sub', argv: ['mosquitto_sub', '-L', 'mqtt://198.51.100.7/c2/#'] })?.topics, ['c2/#']);
    assert.deepEqual(readMqttCliIntent({ pid: 1, exe: '/usr/bin/mosquitto_sub', argv: ['mosquitto_sub', '-L', 'mqtt://198.51.100.7'] })?.topics, []);
    assert.deepEqual(readMqttCliIntent({ pid: 1, exe: '/usr/bin/mosquitto_pub', argv: ['mosquitto_pub', '-t'] })?.topics, [], 'a dangling -t is ignored');
  });

  test('which programs are read: mosquitto_pub/_sub/_rr by exe, by argv[0], by name; .exe in any case', () => {
    assert.ok(readMqttCliIntent({ pid: 1, argv: ['/usr/bin/mosquitto_rr', '-t', 'a'] }));
    assert.ok(readMqttCliIntent({ pid: 1, name: 'mosquitto_sub', exe: '/opt/x/renamed', argv: ['renamed', '-t', 'a'] }));
    assert.ok(readMqttCliIntent({ pid: 1, exe: 'C:\\Program Files\\mosquitto\\MOSQUITTO_PUB.EXE', argv: ['mosquitto_pub', '-t', 'a'] }));
    assert.equal(readMqttCliIntent({ pid: 1, exe: '/usr/bin/mosquitto', argv: ['mosquitto', '-c', 'x'] }), null);
    assert.equal(readMqttCliIntent({ pid: 1, exe: '/usr/bin/python3', argv: ['python3', '-t', 'c2/beacon'] }), null);
    assert.equal(readMqttCliIntent({ pid: 1, exe: '/usr/bin/mosquitto_pub' }), null, 'no argv');
    assert.equal(readMqttCliIntent({ pid: 1, exe: '/usr/bin/mosquitto_pub', argv: [] }), null);
    assert.equal(readMqttCliIntent(undefined), null);
  });
});

describe('scoreTopicAnomaly and shannonEntropy', () => {
  test('entropy in bits per character', () => {
    assert.equal(shannonEntropy(''), 0);
    assert.equal(shannonEntropy('aaaa'), 0);
    assert.equal(shannonEntropy('ab'), 1);
    assert.equal(shannonEntropy('abcd'), 2);
    assert.equal(shannonEntropy('0123456789abcdef'), 4, 'hex tops out at 4');
  });

  test('one point per indicator', () => {
    assert.deepEqual(scoreTopicAnomaly({ topics: ['sensors/kitchen/temp'], message: '21.5' }, settings), { score: 0, indicators: [] });
    const many = scoreTopicAnomaly({ topics: ['c2/Zx9Qm2Lr7Tb4Wk8Np1Vc6Hs3Jd5Fg0Ya', '#'], message: Buffer.alloc(600, 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0123456789+/').toString() }, settings);
    assert.equal(many.score, 5, many.indicators.join('\n'));
    assert.ok(many.indicators.some((i) => i.startsWith('message of 600 bytes')));
    assert.ok(many.indicators.some((i) => i.startsWith('message looks encoded or encrypted')));
  });

  test('short segments are not measured (minEntropyLength), and 4.5 bits needs 23+ distinct characters', () => {
    const distinct = 'Zx9Qm2Lr7Tb4Wk8Np1Vc6Hs3Jd5Fg0Ya';
    const lenient = { ...settings, entropyThreshold: 3 };
    assert.equal(scoreTopicAnomaly({ topics: [`a/${distinct.slice(0, 20)}`] }, lenient).score, 1, '20 characters: measured');
    assert.equal(scoreTopicAnomaly({ topics: [`a/${distinct.slice(0, 19)}`] }, lenient).score, 0, '19 characters: not measured');
    assert.equal(scoreTopicAnomaly({ topics: [`a/${distinct.slice(0, 23)}`] }, settings).score, 1, '23 distinct: 4.52 bits');
    assert.equal(scoreTopicAnomaly({ topics: [`a/${distinct.slice(0, 22)}`] }, settings).score, 0, '22 distinct: 4.46 bits');
  });

  test('payload length is bytes, not characters', () => {
    const s = { ...settings, payloadLengthThreshold: 10 };
    assert.equal(scoreTopicAnomaly({ topics: [], message: 'ééééé' }, s).score, 0, '10 bytes');
    assert.equal(scoreTopicAnomaly({ topics: [], message: 'éééééé' }, s).score, 1, '12 bytes');
  });
});

describe('process helpers', () => {
  test('baseName handles / and \\ separators', () => {
    assert.equal(baseName('/usr/bin/python3.11'), 'python3.11');
    assert.equal(baseName('C:\\Windows\\System32\\rundll32.exe'), 'rundll32.exe');
    assert.equal(baseName('nc'), 'nc');
    assert.equal(baseName('/tmp/bwu-capture/a b) c'), 'a b) c');
  });

  test('osNameOf: win32 -> windows, darwin -> darwin, everything else -> linux', () => {
    assert.equal(osNameOf('win32'), 'windows');
    assert.equal(osNameOf('darwin'), 'darwin');
    assert.equal(osNameOf('linux'), 'linux');
    assert.equal(osNameOf('freebsd'), 'linux');
  });
});

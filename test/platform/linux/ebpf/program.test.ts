import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { LOOPBACK_TEST, LOOPBACK_TOKEN, PORT_FILTER_TOKEN, portFilter, renderProgram, tracedPorts, validatePorts } from '../../../../platform/linux/ebpf/program';
import { SourcePortJoin } from '../../../../platform/linux/ebpf/ports';

const TEMPLATE = fs.readFileSync(path.join(__dirname, '..', '..', '..', '..', 'platform', 'linux', 'ebpf', 'connect.bt'), 'utf8');

describe('connect.bt rendering', () => {
  it('puts only validated port integers into the program', () => {
    const program = renderProgram(TEMPLATE, [8883, 1883, 1883]);
    assert.ok(!program.includes(PORT_FILTER_TOKEN));
    const filter = '(args->dport == 1883 || args->dport == 8883)'; // sorted and de-duplicated
    assert.ok(!program.includes(LOOPBACK_TOKEN));
    assert.ok(program.includes(`/args->newstate == 2 && args->protocol == 6 && ${filter} && ${LOOPBACK_TEST}/`), 'loopback connects are counted');
    assert.ok(program.includes(`/args->newstate == 2 && args->protocol == 6 && ${filter} && !(${LOOPBACK_TEST})/`), 'the others reported');
    assert.ok(program.includes(`/args->oldstate == 2 && args->protocol == 6 && ${filter} && !(${LOOPBACK_TEST})/`));
  });

  it('keeps loopback connects when asked (includeLoopback), and the test names 127/8, ::1 and ::ffff:127/104', () => {
    const program = renderProgram(TEMPLATE, [1883], { dropLoopback: false });
    assert.ok(program.includes('/args->newstate == 2 && args->protocol == 6 && (args->dport == 1883) && 0/'));
    assert.ok(program.includes('/args->newstate == 2 && args->protocol == 6 && (args->dport == 1883) && !(0)/'));
    assert.match(LOOPBACK_TEST, /^\(\(args->family == 2 && args->daddr\[0\] == 127\) \|\| \(args->family == 10 && /);
    assert.ok(LOOPBACK_TEST.includes('args->daddr_v6[14] == 0 && args->daddr_v6[15] == 1)'));
    assert.ok(LOOPBACK_TEST.includes('args->daddr_v6[10] == 255 && args->daddr_v6[11] == 255 && args->daddr_v6[12] == 127)'));
  });

  it('refuses anything that is not a port', () => {
    for (const bad of [0, 65536, 1.5, -1, NaN, '1883', '1883) || 1 == (1', null, undefined, 1e100]) {
      assert.throws(() => portFilter([bad]), /not a TCP port/, String(bad));
    }
    assert.throws(() => validatePorts([]), /no destination ports/);
    assert.throws(() => renderProgram('BEGIN {}', [1883]), /placeholder/);
  });

  it('traces every pub/sub port of the configuration', () => {
    const config = { mode: 'det0002' as const, protocolPortList: { MQTT: [1883, 8883], AMQP: [5672] }, webBrokerPorts: [443], uriPathRegex: ['/mqtt'] };
    assert.deepEqual(tracedPorts(config), [443, 1883, 5672, 8883]);
    assert.deepEqual(tracedPorts({ ...config, uriPathRegex: [] }), [1883, 5672, 8883]);
    assert.deepEqual(tracedPorts({ ...config, mode: 'yaral-parity', uriPathRegex: [] }, (p) => p === 61613), [1883, 5672, 8883, 61613]);
  });
});

describe('SourcePortJoin', () => {
  it('gives a connect the port of its S line, in either arrival order, FIFO per socket', async () => {
    const join = new SourcePortJoin(1000);
    const a = join.wait('0x1', 1883, 0);
    const b = join.wait('0x1', 1883, 0); // the kernel reused the socket address
    join.left('0x1', 40001, 1883);
    join.left('0x1', 40002, 1883);
    join.left('0x2', 40003, 8883); // S before C (another CPU's buffer was read first)
    const c = join.wait('0x2', 8883, 0);
    assert.deepEqual(await Promise.all([a, b, c]), [40001, 40002, 40003]);
    assert.equal(join.joined, 3);
  });

  it('keeps a port known at SYN_SENT, times out to 0, and flushes on close', async () => {
    const join = new SourcePortJoin(20);
    assert.equal(await join.wait('0x3', 1883, 47555), 47555);
    join.left('0x4', 1, 9999); // other destination port: not this connect's
    assert.equal(await join.wait('0x4', 1883, 0), 0);
    assert.equal(join.timedOut, 1);
    const slow = new SourcePortJoin(60_000);
    const pending = slow.wait('0x5', 1883, 0);
    slow.flush();
    assert.equal(await pending, 0);
  });
});

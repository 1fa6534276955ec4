// AckTable: waiting probes by sequence number (memberlist setAckHandler, invokeAckHandler,
// invokeNackHandler): acks and nacks reach the matching waiter only, unknown sequence numbers
// are ignored, every entry times out, and nothing stays registered afterwards.
import { SimClock } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AckTable } from '../src/index.js';

function recorder(clock: SimClock) {
  const log: string[] = [];
  return {
    log,
    waiter: (tag: string) => ({
      onAck: (payload: Uint8Array | null, at: number) =>
        log.push(`${tag}:ack:${payload === null ? 'null' : Buffer.from(payload).toString()}@${at}`),
      onNack: () => log.push(`${tag}:nack@${clock.now()}`),
      onTimeout: () => log.push(`${tag}:timeout@${clock.now()}`),
    }),
  };
}

test('an ack reaches its waiter once, with the payload and the receive time', () => {
  const clock = new SimClock();
  const acks = new AckTable(clock);
  const { log, waiter } = recorder(clock);
  acks.register(1, waiter('a'), 500);
  acks.register(2, waiter('b'), 500);
  assert.is(acks.size, 2);
  clock.advanceSync(120);
  assert.ok(acks.ack(2, new Uint8Array(Buffer.from('hi'))));
  assert.not.ok(acks.ack(2, null), 'a second ack for the same sequence number is unknown');
  assert.ok(acks.ack(1, null));
  assert.equal(log, ['b:ack:hi@120', 'a:ack:null@120']);
  assert.is(acks.size, 0);
  clock.advanceSync(1000);
  assert.is(log.length, 2, 'no timeout after an ack');
  assert.is(clock.pending, 0);
});

test('unknown sequence numbers are ignored', () => {
  const clock = new SimClock();
  const acks = new AckTable(clock);
  assert.not.ok(acks.ack(7, null));
  assert.not.ok(acks.nack(7));
  acks.cancel(7);
  assert.is(acks.size, 0);
});

test('nacks notify and keep the entry; an ack may still come', () => {
  const clock = new SimClock();
  const acks = new AckTable(clock);
  const { log, waiter } = recorder(clock);
  acks.register(5, waiter('p'), 1000);
  clock.advanceSync(300);
  assert.ok(acks.nack(5));
  assert.ok(acks.nack(5));
  assert.is(acks.size, 1);
  clock.advanceSync(100);
  assert.ok(acks.ack(5, null));
  assert.equal(log, ['p:nack@300', 'p:nack@300', 'p:ack:null@400']);
});

test('the deadline removes the entry and calls onTimeout; a late ack is unknown', () => {
  const clock = new SimClock();
  const acks = new AckTable(clock);
  const { log, waiter } = recorder(clock);
  acks.register(9, waiter('t'), 200);
  clock.advanceSync(199);
  assert.equal(log, []);
  clock.advanceSync(1);
  assert.equal(log, ['t:timeout@200']);
  assert.is(acks.size, 0);
  assert.not.ok(acks.ack(9, null));
  // Without onTimeout the entry just disappears.
  acks.register(10, { onAck: () => log.push('never') }, 50);
  clock.advanceSync(50);
  assert.is(acks.size, 0);
  assert.equal(log, ['t:timeout@200']);
});

test('registering a sequence number again replaces the old waiter and its deadline', () => {
  const clock = new SimClock();
  const acks = new AckTable(clock);
  const { log, waiter } = recorder(clock);
  acks.register(3, waiter('old'), 100);
  clock.advanceSync(50);
  acks.register(3, waiter('new'), 100);
  clock.advanceSync(60); // the old deadline (100) passes silently
  assert.equal(log, []);
  assert.is(acks.size, 1);
  clock.advanceSync(40);
  assert.equal(log, ['new:timeout@150']);
});

test('cancel and clear forget entries without calling anything', () => {
  const clock = new SimClock();
  const acks = new AckTable(clock);
  const { log, waiter } = recorder(clock);
  acks.register(1, waiter('a'), 100);
  acks.register(2, waiter('b'), 100);
  acks.register(3, waiter('c'), 100);
  acks.cancel(2);
  assert.is(acks.size, 2);
  acks.clear();
  assert.is(acks.size, 0);
  clock.advanceSync(1000);
  assert.equal(log, []);
  assert.is(clock.pending, 0);
});

test.run();

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  decodeKvCommand,
  encodeKvCommand,
  KV_MAX_CLIENT_ID_BYTES,
  type KvResult,
} from '../src/kv/commands.js';
import { isKvDecodeError } from '../src/kv/errors.js';
import { KvStateMachine, kv } from '../src/kv/kv-state-machine.js';
import {
  isKvSessionPoolExhaustedError,
  KV_SESSION_POOL_DEFAULT_LIMIT,
  KvSessionPool,
  KvSessionPoolExhaustedError,
} from '../src/kv/session-pool.js';

const pool = suite('kv: session pool');

/** A proposal the test settles by hand, with the bytes it was given. */
interface Pending {
  readonly bytes: Uint8Array;
  resolve(value: string): void;
  reject(error: Error): void;
}

function manualProposer() {
  const pending: Pending[] = [];
  const propose = (bytes: Uint8Array) =>
    new Promise<string>((resolve, reject) => {
      pending.push({ bytes, resolve, reject });
    });
  return { pending, propose };
}

const sessionOf = (bytes: Uint8Array): [string | undefined, number | undefined] => {
  const { client, seq } = decodeKvCommand(bytes);
  return [client, seq];
};

pool('one command at a time keeps using one session, with the next sequence number each time', async () => {
  const sessions = new KvSessionPool({ prefix: 'p' });
  const seen: [string | undefined, number | undefined][] = [];
  for (let i = 0; i < 3; i++) {
    const answer = await sessions.run(kv.put('k', `${i}`), async (bytes) => {
      seen.push(sessionOf(bytes));
      // The command itself is unchanged.
      assert.equal(decodeKvCommand(bytes).command, decodeKvCommand(kv.put('k', `${i}`)).command);
      return `ok ${i}`;
    });
    assert.is(answer, `ok ${i}`);
  }
  assert.equal(seen, [
    ['p/1', 1],
    ['p/1', 2],
    ['p/1', 3],
  ]);
  assert.is(sessions.size, 1);
  assert.is(sessions.inFlight, 0);
});

pool('commands in flight at once hold sessions of their own, given back when they settle', async () => {
  const sessions = new KvSessionPool({ prefix: 'p' });
  const { pending, propose } = manualProposer();
  const answers = [0, 1, 2].map((i) => sessions.run(kv.put('k', `${i}`), propose));
  assert.equal(
    pending.map((p) => sessionOf(p.bytes)),
    [
      ['p/1', 1],
      ['p/2', 1],
      ['p/3', 1],
    ],
  );
  assert.is(sessions.inFlight, 3);
  // A failed proposal frees its session too, and the error reaches the caller.
  pending[1]?.reject(new Error('timed out'));
  const failure = await (answers[1] as Promise<string>).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.match(String(failure), /timed out/);
  pending[0]?.resolve('a');
  pending[2]?.resolve('c');
  assert.equal(await Promise.all([answers[0], answers[2]]), ['a', 'c']);
  assert.is(sessions.inFlight, 0);
  // The next command takes the session freed last, at its next sequence number.
  const next = sessions.run(kv.put('k', 'n'), propose);
  assert.equal(sessionOf((pending[3] as Pending).bytes), ['p/3', 2]);
  pending[3]?.resolve('n');
  assert.is(await next, 'n');
  assert.is(sessions.size, 3);
});

pool('beyond its limit the pool refuses a command without proposing it', async () => {
  const sessions = new KvSessionPool({ prefix: 'p', limit: 2 });
  const { pending, propose } = manualProposer();
  const first = sessions.run(kv.put('k', '1'), propose);
  const second = sessions.run(kv.put('k', '2'), propose);
  const error = await sessions.run(kv.put('k', '3'), propose).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof KvSessionPoolExhaustedError);
  assert.ok(isKvSessionPoolExhaustedError(error));
  assert.is(error.limit, 2);
  assert.is(pending.length, 2, 'the refused command was not proposed');
  pending[0]?.resolve('1');
  await first;
  // A session is free again: the next command goes through.
  const third = sessions.run(kv.put('k', '3'), propose);
  assert.is(pending.length, 3);
  pending[1]?.resolve('2');
  pending[2]?.resolve('3');
  assert.equal(await Promise.all([second, third]), ['2', '3']);
  assert.not.ok(isKvSessionPoolExhaustedError(new Error('other')));
});

pool('bytes that are not a command are refused and the session is freed', async () => {
  const sessions = new KvSessionPool({ prefix: 'p', limit: 1 });
  const error = await sessions
    .run(new Uint8Array([1, 2, 3]), async () => 'never')
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(isKvDecodeError(error));
  assert.is(sessions.inFlight, 0);
  assert.is(await sessions.run(kv.put('k', 'v'), async () => 'ok'), 'ok');
});

pool('withSession gives the name and sequence number to a caller that encodes the command', async () => {
  const sessions = new KvSessionPool({ prefix: 'node-a' });
  const machine = new KvStateMachine();
  const put = (value: string) =>
    sessions.withSession(async (client, seq) =>
      machine.apply(
        encodeKvCommand({ now: 0, client, seq, command: { type: 'put', key: b('k'), value: b(value) } }),
        seq,
      ),
    );
  assert.equal(await put('1'), { type: 'put', revision: 1 });
  assert.equal(await put('2'), { type: 'put', revision: 2 });
  assert.is(machine.sessionCount, 1);
});

pool('through a state machine: a copy committed twice applies once, and the table stays small', async () => {
  const machine = new KvStateMachine();
  let index = 0;
  const log: Uint8Array[] = [];
  const sessions = new KvSessionPool({ prefix: 'proposer' });
  // Each proposal is "committed twice" (a retried forward): both copies reach the log.
  const propose = async (bytes: Uint8Array): Promise<KvResult> => {
    log.push(bytes);
    const first = machine.apply(bytes, ++index);
    const copy = machine.apply(bytes, ++index);
    assert.equal(copy, first, 'the second copy gets the first copy’s answer');
    return first;
  };
  // 1,000 puts, up to four in flight at once.
  for (let round = 0; round < 250; round++) {
    await Promise.all([0, 1, 2, 3].map((i) => sessions.run(kv.put(`k${i}`, `${round}`), propose)));
  }
  assert.is(log.length, 1_000);
  assert.is(machine.revision, 1_000, 'no copy was applied twice');
  assert.is(sessions.size, 4);
  assert.is(machine.sessionCount, 4, 'one session per command in flight, not one per command');
});

pool('a command that failed but commits after its session moved on is refused as stale', async () => {
  const machine = new KvStateMachine();
  const sessions = new KvSessionPool({ prefix: 'p' });
  let late: Uint8Array | undefined;
  await sessions
    .run(kv.put('k', 'late'), async (bytes) => {
      late = bytes;
      throw new Error('request timed out');
    })
    .catch(() => undefined);
  await sessions.run(kv.put('k', 'next'), async (bytes) => machine.apply(bytes, 1));
  const result = machine.apply(late as Uint8Array, 2);
  assert.is(result.type, 'error');
  assert.is(result.type === 'error' ? result.error.name : '', 'KvStaleRequestError');
  assert.is(str(machine.get('k')?.value), 'next');
});

pool('options are checked', () => {
  assert.throws(() => new KvSessionPool({ prefix: '' }), /prefix must not be empty/);
  assert.throws(() => new KvSessionPool({ prefix: 'p', limit: 0 }), /positive integer/);
  assert.throws(() => new KvSessionPool({ prefix: 'p', limit: 1.5 }), /positive integer/);
  // `<prefix>/<limit in base 36>` must fit a client id.
  const fits = 'x'.repeat(KV_MAX_CLIENT_ID_BYTES - 1 - KV_SESSION_POOL_DEFAULT_LIMIT.toString(36).length);
  new KvSessionPool({ prefix: fits });
  assert.throws(() => new KvSessionPool({ prefix: `${fits}x` }), /too long/);
  assert.throws(() => new KvSessionPool({ prefix: 'é'.repeat(KV_MAX_CLIENT_ID_BYTES / 2) }), /too long/);
});

function b(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function str(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
}

pool.run();

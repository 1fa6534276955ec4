// Every write raft-kv proposes is in a client session of its own while in flight, so that a
// write Raft commits twice is applied once; sessions are reused, and bounded.
import { decodeKvCommand, type KvCommand, KvStateMachine } from '@clusteros/raft';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TooManyWritesError, WriteSessions } from '../src/write-sessions.js';

const put = (value: string): KvCommand => ({
  type: 'put',
  key: new TextEncoder().encode('k'),
  value: new TextEncoder().encode(value),
});

test('concurrent writes get sessions of their own; a freed session is reused with the next sequence number', async () => {
  const sessions = new WriteSessions();
  const seen: { client: string | undefined; seq: number | undefined }[] = [];
  const release: (() => void)[] = [];
  const record = (bytes: Uint8Array) => {
    const envelope = decodeKvCommand(bytes);
    seen.push({ client: envelope.client, seq: envelope.seq });
    return new Promise<void>((resolve) => release.push(resolve));
  };
  const first = sessions.run(put('a'), record);
  const second = sessions.run(put('b'), record);
  assert.is(seen.length, 2);
  assert.is.not(seen[0]?.client, seen[1]?.client);
  assert.equal(
    seen.map((s) => s.seq),
    [1, 1],
  );
  release[1]?.();
  await second;
  const third = sessions.run(put('c'), record);
  assert.is(seen[2]?.client, seen[1]?.client, 'the freed session is reused');
  assert.is(seen[2]?.seq, 2);
  release[0]?.();
  release[2]?.();
  await Promise.all([first, third]);
  assert.is(sessions.size, 2);
});

test('a write that failed frees its session too', async () => {
  const sessions = new WriteSessions(1);
  const failure = await sessions.run(put('a'), () => Promise.reject(new Error('timed out'))).catch((e) => e);
  assert.match((failure as Error).message, /timed out/);
  let seq: number | undefined;
  await sessions.run(put('b'), async (bytes) => {
    seq = decodeKvCommand(bytes).seq;
  });
  assert.is(seq, 2);
});

test('more writes in flight than sessions: TooManyWritesError, nothing proposed', async () => {
  const sessions = new WriteSessions(2);
  let proposed = 0;
  const hang = () => {
    proposed++;
    return new Promise<void>(() => undefined);
  };
  void sessions.run(put('a'), hang);
  void sessions.run(put('b'), hang);
  const error = await sessions.run(put('c'), hang).catch((e: unknown) => e);
  assert.instance(error, TooManyWritesError);
  assert.match((error as Error).message, /more than 2 writes in flight/);
  assert.is(proposed, 2);
});

test('the same write applied twice changes the state once and gets the same answer', async () => {
  const machine = new KvStateMachine();
  const sessions = new WriteSessions();
  let bytes: Uint8Array = new Uint8Array();
  await sessions.run(put('v'), async (b) => {
    bytes = b;
  });
  const first = machine.apply(bytes, 2);
  const again = machine.apply(bytes, 3);
  assert.equal(again, first);
  assert.is(machine.revision, 1, 'one revision for the one put');
});

test.run();

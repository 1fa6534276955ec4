import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  isAddressInUseError,
  isConnectError,
  isSocketClosedError,
  isStreamResetError,
} from '../../src/errors.js';
import type { Address, ByteStream, DatagramSocket, Network, StreamServer } from '../../src/network.js';

/** One fresh environment for one contract case. */
export interface NetworkFixture {
  /** The network under test. */
  readonly network: Network;
  /** A second host's network (may be the same object for real sockets). */
  readonly peer: Network;
  /** Address host of `network`. */
  readonly host: string;
  /** Address host of `peer`. */
  readonly peerHost: string;
  /** Runs the network until `until()` holds or `limitMs` passes; resolves to whether it held. */
  readonly drive: (until: () => boolean, limitMs: number) => Promise<boolean>;
  /** Releases everything the fixture holds. */
  readonly close: () => Promise<void>;
}

const LIMIT_MS = 5_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Awaits `promise` while driving the network, so simulated clocks move while we wait. */
async function settle<T>(fx: NetworkFixture, promise: Promise<T>, limitMs = LIMIT_MS): Promise<T> {
  let done = false;
  const watched = promise.then(
    (value) => {
      done = true;
      return value;
    },
    (error: unknown) => {
      done = true;
      throw error;
    },
  );
  // Keep an early rejection from counting as unhandled while we drive.
  watched.catch(() => {});
  const held = await fx.drive(() => done, limitMs);
  if (!held) throw new Error(`operation did not settle within ${limitMs} ms`);
  return watched;
}

async function rejection(fx: NetworkFixture, promise: Promise<unknown>): Promise<unknown> {
  try {
    await settle(fx, promise);
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

async function until(fx: NetworkFixture, what: string, predicate: () => boolean): Promise<void> {
  const held = await fx.drive(predicate, LIMIT_MS);
  assert.ok(held, `timed out waiting for ${what}`);
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const total = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Collects what a stream emits. */
function record(stream: ByteStream): {
  chunks: Uint8Array[];
  ended: boolean;
  closed: boolean;
  error: Error | undefined;
  bytes(): Uint8Array;
} {
  const state = {
    chunks: [] as Uint8Array[],
    ended: false,
    closed: false,
    error: undefined as Error | undefined,
    bytes: () => concat(state.chunks),
  };
  stream.on('data', (chunk) => state.chunks.push(chunk));
  stream.on('end', () => {
    state.ended = true;
  });
  stream.on('close', (error) => {
    state.closed = true;
    state.error = error;
  });
  return state;
}

/** Binds a datagram socket and a stream server on the same port number, retrying on a clash. */
async function bindBoth(
  fx: NetworkFixture,
  onConnection: (stream: ByteStream) => void,
): Promise<{ udp: DatagramSocket; tcp: StreamServer }> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const udp = await settle(fx, fx.peer.bindDatagram({ host: fx.peerHost, port: 0 }));
    try {
      const tcp = await settle(
        fx,
        fx.peer.listenStream({ host: fx.peerHost, port: udp.local.port }, onConnection),
      );
      return { udp, tcp };
    } catch (error) {
      await udp.close();
      // Real sockets only: something else on this machine holds that TCP port; pick another.
      if (!isAddressInUseError(error)) throw error;
    }
  }
  throw new Error('no port number was free for both UDP and TCP');
}

/**
 * Registers the behaviour every {@link Network} must share as a uvu suite named `name`, and
 * queues it to run. `make` builds a fresh fixture per case.
 */
export function networkContract(name: string, make: () => Promise<NetworkFixture>): void {
  const it = suite(`network contract: ${name}`);
  const cases: Array<[string, (fx: NetworkFixture) => Promise<void>]> = [];
  const add = (title: string, body: (fx: NetworkFixture) => Promise<void>): void => {
    cases.push([title, body]);
  };

  add('datagram round trip reports the sender address', async (fx) => {
    const a = await settle(fx, fx.network.bindDatagram({ host: fx.host, port: 0 }));
    const b = await settle(fx, fx.peer.bindDatagram({ host: fx.peerHost, port: 0 }));
    let seenByB: Address | undefined;
    let reply: string | undefined;
    let replyFrom: Address | undefined;
    b.onMessage((data, from) => {
      seenByB = from;
      assert.is(decoder.decode(data), 'ping');
      b.send(from, encoder.encode('pong'));
    });
    a.onMessage((data, from) => {
      reply = decoder.decode(data);
      replyFrom = from;
    });
    a.send(b.local, encoder.encode('ping'));
    await until(fx, 'the reply', () => reply !== undefined);
    assert.is(reply, 'pong');
    assert.equal(seenByB, { host: a.local.host, port: a.local.port });
    assert.equal(replyFrom, { host: b.local.host, port: b.local.port });
    await a.close();
    await b.close();
  });

  add('port 0 picks a free port and reports it', async (fx) => {
    const a = await settle(fx, fx.network.bindDatagram({ host: fx.host, port: 0 }));
    const b = await settle(fx, fx.network.bindDatagram({ host: fx.host, port: 0 }));
    const s = await settle(
      fx,
      fx.network.listenStream({ host: fx.host, port: 0 }, () => {}),
    );
    assert.is(a.local.host, fx.host);
    assert.ok(a.local.port > 0 && a.local.port <= 65535);
    assert.ok(b.local.port > 0 && b.local.port !== a.local.port);
    assert.ok(s.local.port > 0);
    assert.is(s.local.host, fx.host);
    await a.close();
    await b.close();
    await s.close();
  });

  add('binding a taken address fails with AddressInUseError', async (fx) => {
    const a = await settle(fx, fx.network.bindDatagram({ host: fx.host, port: 0 }));
    const error = await rejection(fx, fx.network.bindDatagram({ host: fx.host, port: a.local.port }));
    assert.ok(isAddressInUseError(error), String(error));
    const s = await settle(
      fx,
      fx.network.listenStream({ host: fx.host, port: 0 }, () => {}),
    );
    const error2 = await rejection(
      fx,
      fx.network.listenStream({ host: fx.host, port: s.local.port }, () => {}),
    );
    assert.ok(isAddressInUseError(error2), String(error2));
    await a.close();
    await s.close();
  });

  add('stream echoes many chunks in order, both directions', async (fx) => {
    const serverSide: Uint8Array[] = [];
    const server = await settle(
      fx,
      fx.peer.listenStream({ host: fx.peerHost, port: 0 }, (stream) => {
        stream.write(encoder.encode('hello:'));
        stream.on('data', (chunk) => {
          serverSide.push(chunk);
          stream.write(chunk);
        });
      }),
    );
    const client = await settle(fx, fx.network.connectStream(server.local));
    assert.is(client.remote.port, server.local.port);
    const got = record(client);
    const sent: Uint8Array[] = [];
    let counter = 0;
    for (let i = 0; i < 200; i++) {
      const chunk = new Uint8Array(1 + ((i * 37) % 300));
      for (let j = 0; j < chunk.length; j++) chunk[j] = counter++ & 0xff;
      sent.push(chunk);
      assert.is(typeof client.write(chunk), 'boolean');
      chunk.fill(0); // the stream must have taken its own copy
    }
    // Rebuild what was written (the originals were zeroed above).
    counter = 0;
    const expected = new Uint8Array(sent.reduce((n, c) => n + c.length, 0));
    for (let k = 0; k < expected.length; k++) expected[k] = counter++ & 0xff;
    const greeting = encoder.encode('hello:');
    await until(fx, 'the echo', () => got.bytes().byteLength >= greeting.length + expected.length);
    assert.equal(got.bytes(), concat([greeting, expected]));
    assert.equal(concat(serverSide), expected);
    client.destroy();
    await until(fx, 'client close', () => got.closed);
    await server.close();
  });

  add('end: the peer sees end after all data, may still write, then both close cleanly', async (fx) => {
    let serverState: ReturnType<typeof record> | undefined;
    const server = await settle(
      fx,
      fx.peer.listenStream({ host: fx.peerHost, port: 0 }, (stream) => {
        serverState = record(stream);
        stream.on('end', () => {
          stream.write(encoder.encode('bye'));
          stream.end();
        });
      }),
    );
    const client = await settle(fx, fx.network.connectStream(server.local));
    const got = record(client);
    client.write(encoder.encode('last words'));
    client.end();
    assert.is(client.write(encoder.encode('too late')), false);
    await until(fx, 'both closed', () => got.closed && serverState?.closed === true);
    assert.is(decoder.decode(serverState?.bytes()), 'last words');
    assert.ok(serverState?.ended);
    assert.is(serverState?.error, undefined);
    assert.is(decoder.decode(got.bytes()), 'bye');
    assert.ok(got.ended);
    assert.is(got.error, undefined);
    assert.ok(client.closed);
    assert.is(client.write(encoder.encode('after close')), false);
    client.end(); // idempotent, no throw
    client.destroy(); // no-op after close
    await server.close();
  });

  add('destroy: local close carries the given error, the peer sees a reset', async (fx) => {
    let serverState: ReturnType<typeof record> | undefined;
    const server = await settle(
      fx,
      fx.peer.listenStream({ host: fx.peerHost, port: 0 }, (stream) => {
        serverState = record(stream);
      }),
    );
    const client = await settle(fx, fx.network.connectStream(server.local));
    const got = record(client);
    await until(fx, 'the server end', () => serverState !== undefined);
    const reason = new Error('giving up');
    client.destroy(reason);
    assert.is(client.write(encoder.encode('x')), false);
    await until(fx, 'both closed', () => got.closed && serverState?.closed === true);
    assert.is(got.error, reason);
    assert.ok(isStreamResetError(serverState?.error), String(serverState?.error));
    await server.close();
  });

  add('destroy without an error closes cleanly on the local side', async (fx) => {
    let serverState: ReturnType<typeof record> | undefined;
    const server = await settle(
      fx,
      fx.peer.listenStream({ host: fx.peerHost, port: 0 }, (stream) => {
        serverState = record(stream);
      }),
    );
    const client = await settle(fx, fx.network.connectStream(server.local));
    const got = record(client);
    await until(fx, 'the server end', () => serverState !== undefined);
    client.destroy();
    await until(fx, 'both closed', () => got.closed && serverState?.closed === true);
    assert.is(got.error, undefined);
    assert.ok(isStreamResetError(serverState?.error), String(serverState?.error));
    await server.close();
  });

  add('connect is refused when nothing listens', async (fx) => {
    const server = await settle(
      fx,
      fx.peer.listenStream({ host: fx.peerHost, port: 0 }, () => {}),
    );
    const port = server.local.port;
    await server.close();
    const error = await rejection(fx, fx.network.connectStream({ host: fx.peerHost, port }));
    assert.ok(isConnectError(error), String(error));
    assert.is(isConnectError(error) && error.reason, 'refused');
  });

  add('connect with an aborted signal fails with reason aborted', async (fx) => {
    const server = await settle(
      fx,
      fx.peer.listenStream({ host: fx.peerHost, port: 0 }, () => {}),
    );
    const controller = new AbortController();
    controller.abort();
    const error = await rejection(fx, fx.network.connectStream(server.local, { signal: controller.signal }));
    assert.ok(isConnectError(error) && error.reason === 'aborted', String(error));
    await server.close();
  });

  add('a closed server accepts no more, but its open streams keep working', async (fx) => {
    const server = await settle(
      fx,
      fx.peer.listenStream({ host: fx.peerHost, port: 0 }, (stream) => {
        stream.on('data', (chunk) => stream.write(chunk));
      }),
    );
    const client = await settle(fx, fx.network.connectStream(server.local));
    const got = record(client);
    await server.close();
    await server.close(); // idempotent
    const error = await rejection(fx, fx.network.connectStream(server.local));
    assert.ok(isConnectError(error) && error.reason === 'refused', String(error));
    client.write(encoder.encode('still here'));
    await until(fx, 'the echo', () => got.bytes().byteLength >= 10);
    assert.is(decoder.decode(got.bytes()), 'still here');
    client.destroy();
    await until(fx, 'close', () => got.closed);
  });

  add('a closed datagram socket receives nothing and cannot send', async (fx) => {
    const a = await settle(fx, fx.network.bindDatagram({ host: fx.host, port: 0 }));
    const b = await settle(fx, fx.peer.bindDatagram({ host: fx.peerHost, port: 0 }));
    const c = await settle(fx, fx.peer.bindDatagram({ host: fx.peerHost, port: 0 }));
    let toB = 0;
    let toC = 0;
    b.onMessage(() => {
      toB++;
    });
    c.onMessage(() => {
      toC++;
    });
    await b.close();
    await b.close(); // idempotent
    assert.throws(() => b.send(a.local, encoder.encode('x')), isSocketClosedError);
    for (let i = 0; i < 5; i++) a.send(b.local, encoder.encode('lost'));
    // A marker through another socket shows the network has had its chance to deliver.
    for (let i = 0; i < 5; i++) a.send(c.local, encoder.encode('marker'));
    await until(fx, 'the markers', () => toC >= 5);
    assert.is(toB, 0);
    await a.close();
    await c.close();
  });

  add('UDP and TCP share a port number', async (fx) => {
    const { udp, tcp } = await bindBoth(fx, (stream) => {
      stream.write(encoder.encode('tcp'));
    });
    assert.is(udp.local.port, tcp.local.port);
    let datagram: string | undefined;
    udp.onMessage((data) => {
      datagram = decoder.decode(data);
    });
    const a = await settle(fx, fx.network.bindDatagram({ host: fx.host, port: 0 }));
    a.send({ host: fx.peerHost, port: udp.local.port }, encoder.encode('udp'));
    const client = await settle(fx, fx.network.connectStream({ host: fx.peerHost, port: tcp.local.port }));
    const got = record(client);
    await until(fx, 'both protocols', () => datagram !== undefined && got.bytes().byteLength >= 3);
    assert.is(datagram, 'udp');
    assert.is(decoder.decode(got.bytes()), 'tcp');
    client.destroy();
    await until(fx, 'close', () => got.closed);
    await a.close();
    await udp.close();
    await tcp.close();
  });

  add('oversized datagrams throw at send', async (fx) => {
    const a = await settle(fx, fx.network.bindDatagram({ host: fx.host, port: 0 }));
    assert.throws(() => a.send({ host: fx.peerHost, port: 9 }, new Uint8Array(70_000)), RangeError);
    await a.close();
  });

  for (const [title, body] of cases) {
    it(title, async () => {
      const fx = await make();
      try {
        await body(fx);
      } finally {
        await fx.close();
      }
    });
  }
  it.run();
}

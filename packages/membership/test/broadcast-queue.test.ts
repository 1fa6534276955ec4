// BroadcastQueue against memberlist's TransmitLimitedQueue (queue.go): priority order (fewest
// transmits, then largest, then newest), the retransmit limit, named replacement, prune and
// reset; and a model of queue.go's GetBroadcasts loop replayed against random operations.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BroadcastQueue, retransmitLimit } from '../src/index.js';

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString();
const msg = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

/** A queue whose limit is far away unless `nodes`/`mult` say otherwise. */
function queue(mult = 100, nodes = 1): BroadcastQueue {
  return new BroadcastQueue({ retransmitMult: mult, numNodes: () => nodes });
}

test('order: fewest transmits first, then the largest, then the newest', () => {
  const q = queue();
  q.queue(msg('aaa'));
  q.queue(msg('bbbbb'));
  q.queue(msg('ccc'));
  assert.equal(q.getBroadcasts(2, 10_000).map(text), ['bbbbb', 'ccc', 'aaa']);
  // A fresh message (0 transmits) goes before everything sent once, even when it is smaller.
  q.queue(msg('d'));
  assert.equal(q.getBroadcasts(2, 10_000).map(text), ['d', 'bbbbb', 'ccc', 'aaa']);
  // Now d has 1 transmit and the others 2: d first.
  assert.equal(q.getBroadcasts(2, 10_000).map(text), ['d', 'bbbbb', 'ccc', 'aaa']);
  assert.is(q.length, 4);
});

test('a packet takes the largest message that still fits, tier by tier, within limit with overhead', () => {
  const q = queue();
  q.queue(msg('x'.repeat(10)));
  q.queue(msg('y'.repeat(6)));
  q.queue(msg('z'.repeat(3)));
  // limit 14, overhead 2: 10 (+2 = 12) fits; 6+2 does not; 3+2 does not (12 + 5 > 14).
  assert.equal(q.getBroadcasts(2, 14).map(text), ['x'.repeat(10)]);
  // limit 13: the 10-byte one has 1 transmit now; 6+2 and 3+2 (13 in total) fit from tier 0.
  assert.equal(q.getBroadcasts(2, 13).map(text), ['y'.repeat(6), 'z'.repeat(3)]);
  // Nothing fits when the limit does not exceed the overhead.
  assert.equal(q.getBroadcasts(2, 2), []);
  assert.equal(q.getBroadcasts(20, 5), []);
  // An exact fit is allowed: 10 + 2 = 12.
  assert.equal(q.getBroadcasts(2, 12).map(text), ['x'.repeat(10)]);
});

test('retransmit limit: retransmitMult × ceil(log10(N + 1)) sends, then onDone(true) once', () => {
  for (const [mult, nodes] of [
    [2, 1],
    [2, 9],
    [2, 10],
    [4, 99],
    [4, 100],
    [3, 1000],
  ] as const) {
    const limit = retransmitLimit(mult, nodes);
    assert.is(limit, mult * Math.ceil(Math.log10(nodes + 1)));
    const done: boolean[] = [];
    const q = queue(mult, nodes);
    q.queue(msg('m'), { onDone: (sent) => done.push(sent) });
    for (let i = 0; i < limit; i++) {
      assert.is(q.length, 1, `still queued before send ${i + 1} of ${limit}`);
      assert.equal(q.getBroadcasts(2, 100).map(text), ['m']);
    }
    assert.is(q.length, 0, `gone after ${limit} sends (mult ${mult}, n ${nodes})`);
    assert.equal(done, [true]);
    assert.equal(q.getBroadcasts(2, 100), []);
  }
});

test('the limit follows the cluster size at the time of sending', () => {
  let nodes = 5;
  const q = new BroadcastQueue({ retransmitMult: 2, numNodes: () => nodes });
  q.queue(msg('m'));
  q.getBroadcasts(2, 100);
  nodes = 50; // limit 4 from now on
  q.getBroadcasts(2, 100);
  assert.is(q.length, 1);
  q.getBroadcasts(2, 100);
  q.getBroadcasts(2, 100);
  assert.is(q.length, 0);
});

test('a message queued under a name replaces the older one, which gets onDone(false)', () => {
  const q = queue();
  const done: string[] = [];
  q.queue(msg('old'), { name: 'n1', onDone: (sent) => done.push(`old:${sent}`) });
  q.queue(msg('other'), { name: 'n2', onDone: (sent) => done.push(`other:${sent}`) });
  q.getBroadcasts(2, 1000);
  q.queue(msg('new'), { name: 'n1', onDone: (sent) => done.push(`new:${sent}`) });
  assert.equal(done, ['old:false']);
  assert.is(q.length, 2);
  // The replacement starts again at 0 transmits, so it goes first.
  assert.equal(q.getBroadcasts(2, 1000).map(text), ['new', 'other']);
  // Unnamed messages never replace anything.
  q.queue(msg('new'));
  q.queue(msg('new'));
  assert.is(q.length, 4);
});

test('prune drops the most transmitted (then smallest, then oldest) first, with onDone(false)', () => {
  const q = queue();
  const done: string[] = [];
  const add = (s: string) => q.queue(msg(s), { onDone: (sent) => done.push(`${s}:${sent}`) });
  add('a1');
  add('b22');
  q.getBroadcasts(2, 1000); // a1, b22: 1 transmit
  add('c');
  add('d4444');
  q.getBroadcasts(2, 8); // d4444 (7) only: 1 transmit
  add('e');
  add('f');
  // transmits: a1 1, b22 1, c 0, d4444 1, e 0, f 0.
  // Go's Prune removes tree Max repeatedly: most transmits, then smallest, then oldest.
  q.prune(3);
  assert.equal([...done].sort(), ['a1:false', 'b22:false', 'd4444:false']);
  assert.equal(q.getBroadcasts(2, 1000).map(text), ['f', 'e', 'c']);
  q.prune(10);
  assert.is(q.length, 3);
  q.prune(0);
  assert.is(q.length, 0);
});

test('maxRetained prunes on queue; reset drops everything with onDone(false)', () => {
  const done: string[] = [];
  const q = new BroadcastQueue({ retransmitMult: 4, numNodes: () => 3, maxRetained: 2 });
  for (const s of ['a', 'bb', 'ccc']) q.queue(msg(s), { onDone: (sent) => done.push(`${s}:${sent}`) });
  assert.is(q.length, 2);
  assert.equal(done, ['a:false']);
  q.reset();
  assert.is(q.length, 0);
  assert.equal(done.sort(), ['a:false', 'bb:false', 'ccc:false']);
  assert.equal(q.getBroadcasts(2, 1000), []);
  // A name freed by reset can be used again without a spurious onDone.
  q.queue(msg('x'), { name: 'n', onDone: (sent) => done.push(`x:${sent}`) });
  assert.is(done.length, 3);
});

// --- model: memberlist queue.go GetBroadcasts, literally (tier loop over a btree order) ---

interface ModelItem {
  transmits: number;
  len: number;
  id: number;
  tag: string;
  name: string | undefined;
}

class GoQueueModel {
  items: ModelItem[] = [];
  id = 0;
  finished: string[] = [];
  constructor(
    readonly mult: number,
    readonly nodes: number,
  ) {}
  less(a: ModelItem, b: ModelItem): boolean {
    if (a.transmits !== b.transmits) return a.transmits < b.transmits;
    if (a.len !== b.len) return a.len > b.len;
    return a.id > b.id;
  }
  sorted(): ModelItem[] {
    return [...this.items].sort((a, b) => (this.less(a, b) ? -1 : this.less(b, a) ? 1 : 0));
  }
  queue(tag: string, len: number, name: string | undefined): void {
    this.id++;
    if (name !== undefined) {
      const old = this.items.find((i) => i.name === name);
      if (old !== undefined) {
        this.finished.push(`${old.tag}:false`);
        this.items = this.items.filter((i) => i !== old);
      }
    }
    this.items.push({ transmits: 0, len, id: this.id, tag, name });
  }
  get(overhead: number, limit: number): string[] {
    if (this.items.length === 0) return [];
    const transmitLimit = this.mult * Math.ceil(Math.log10(this.nodes + 1));
    let used = 0;
    const out: string[] = [];
    const reinsert: ModelItem[] = [];
    const order = this.sorted();
    const minTr = order[0]?.transmits ?? 0;
    const maxTr = order[order.length - 1]?.transmits ?? 0;
    for (let transmits = minTr; transmits <= maxTr; ) {
      const free = limit - used - overhead;
      if (free <= 0) break;
      const keep = this.sorted().find((i) => i.transmits === transmits && i.len <= free);
      if (keep === undefined) {
        transmits++;
        continue;
      }
      used += overhead + keep.len;
      out.push(keep.tag);
      this.items = this.items.filter((i) => i !== keep);
      if (keep.transmits + 1 >= transmitLimit) this.finished.push(`${keep.tag}:true`);
      else {
        keep.transmits++;
        reinsert.push(keep);
      }
    }
    this.items.push(...reinsert);
    return out;
  }
}

test('GetBroadcasts matches a model of memberlist queue.go over random operations', () => {
  const op = fc.oneof(
    fc.record({
      kind: fc.constant('queue' as const),
      len: fc.integer({ min: 1, max: 40 }),
      name: fc.option(fc.constantFrom('a', 'b', 'c', 'd'), { nil: undefined }),
    }),
    fc.record({
      kind: fc.constant('get' as const),
      overhead: fc.integer({ min: 0, max: 4 }),
      limit: fc.integer({ min: 0, max: 120 }),
    }),
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 200 }),
      fc.array(op, { maxLength: 60 }),
      (mult, nodes, ops) => {
        const model = new GoQueueModel(mult, nodes);
        const q = new BroadcastQueue({ retransmitMult: mult, numNodes: () => nodes });
        const finished: string[] = [];
        let counter = 0;
        for (const o of ops) {
          if (o.kind === 'queue') {
            const tag = `m${counter++}`;
            // The payload is the tag padded to the wanted length, so outputs can be compared.
            const body = `${tag}:`.padEnd(Math.max(o.len, tag.length + 1), '.');
            model.queue(tag, body.length, o.name);
            q.queue(msg(body), {
              ...(o.name === undefined ? {} : { name: o.name }),
              onDone: (sent) => finished.push(`${tag}:${sent}`),
            });
          } else {
            const got = q.getBroadcasts(o.overhead, o.limit).map((m) => text(m).split(':')[0]);
            assert.equal(got, model.get(o.overhead, o.limit));
          }
          assert.is(q.length, model.items.length);
          assert.equal(finished, model.finished);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test.run();

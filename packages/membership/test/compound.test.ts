// Compound messages: exact framing, memberlist's truncation semantics, and packing to a budget.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  compoundSize,
  decodeCompound,
  encodeCompound,
  isPayloadTooLargeError,
  MessageType,
  packCompounds,
} from '../src/index.js';
import { throwsDecode } from './support/assertions.js';

const msg = (type: number, length: number): Uint8Array => {
  const out = new Uint8Array(length).fill(0x55);
  out[0] = type;
  return out;
};

test('layout: [7][n][u16 BE lengths][parts]', () => {
  const bytes = encodeCompound([Uint8Array.of(8, 1), Uint8Array.of(8, 2, 3)]);
  assert.equal(bytes, Uint8Array.of(7, 2, 0, 2, 0, 3, 8, 1, 8, 2, 3));
  assert.is(compoundSize([2, 3]), bytes.length);
  assert.equal(decodeCompound(bytes), { parts: [Uint8Array.of(8, 1), Uint8Array.of(8, 2, 3)], truncated: 0 });
  assert.equal(decodeCompound(Uint8Array.of(7, 0)), { parts: [], truncated: 0 });
});

test('a part that runs past the end is dropped with every later one; earlier parts survive', () => {
  // Three parts announced (2, 5, 1 bytes) but only 2 + 3 bytes of bodies present.
  const lying = Uint8Array.of(7, 3, 0, 2, 0, 5, 0, 1, 8, 1, 8, 2, 3);
  assert.equal(decodeCompound(lying), { parts: [Uint8Array.of(8, 1)], truncated: 2 });
  // A length of 65535 with nothing behind it.
  assert.equal(decodeCompound(Uint8Array.of(7, 1, 0xff, 0xff)), { parts: [], truncated: 1 });
  // Bytes after the last part are ignored.
  assert.equal(decodeCompound(Uint8Array.of(7, 1, 0, 1, 8, 9, 9, 9)), {
    parts: [Uint8Array.of(8)],
    truncated: 0,
  });
});

test('a header cut short is an error', () => {
  throwsDecode(() => decodeCompound(Uint8Array.of(7)), 'compound');
  throwsDecode(() => decodeCompound(Uint8Array.of(7, 2, 0, 1, 0)), 'compound');
  throwsDecode(() => decodeCompound(Uint8Array.of(7, 255)), 'compound');
  throwsDecode(() => decodeCompound(Uint8Array.of(8, 0)), 'unknownType');
  throwsDecode(() => decodeCompound(new Uint8Array(0)), 'empty');
});

test('parts are copies, not views of the packet', () => {
  const packet = encodeCompound([Uint8Array.of(8, 1)]);
  const { parts } = decodeCompound(packet);
  packet.fill(0);
  assert.equal(parts[0], Uint8Array.of(8, 1));
});

test('counts and lengths the header cannot describe are refused when encoding', () => {
  const many = Array.from({ length: 256 }, () => Uint8Array.of(8));
  assert.throws(() => encodeCompound(many), isPayloadTooLargeError);
  assert.throws(() => encodeCompound([new Uint8Array(65536)]), isPayloadTooLargeError);
  assert.is(encodeCompound(many.slice(0, 255))[1], 255);
});

test('packing: one message travels bare, several as a compound, each packet within the budget', () => {
  const ping = msg(MessageType.ping, 60);
  assert.equal(packCompounds([ping], 1400), [ping]);
  assert.equal(packCompounds([], 1400), []);
  const parts = [msg(MessageType.ping, 60), msg(MessageType.alive, 700), msg(MessageType.dead, 700)];
  const packets = packCompounds(parts, 1400);
  assert.is(packets.length, 2);
  assert.equal(decodeCompound(packets[0] ?? new Uint8Array()).parts, parts.slice(0, 2));
  assert.equal(packets[1], parts[2]);
  assert.throws(() => packCompounds([msg(8, 1401)], 1400), isPayloadTooLargeError);
  // Exactly at the budget: 2 + (2 + 698) + (2 + 696) = 1400.
  assert.is(packCompounds([msg(4, 698), msg(4, 696)], 1400).length, 1);
  assert.is(packCompounds([msg(4, 698), msg(4, 697)], 1400).length, 2);
});

test('packing keeps order and content and respects the limits, for any messages', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 600 }), { maxLength: 400 }),
      fc.integer({ min: 600, max: 2000 }),
      (lengths, budget) => {
        const messages = lengths.map((length, i) => msg(i % 12, length));
        const packets = packCompounds(messages, budget);
        const back: Uint8Array[] = [];
        for (const packet of packets) {
          assert.ok(packet.length <= budget);
          if (packet[0] === MessageType.compound && messages.includes(packet) === false) {
            const { parts, truncated } = decodeCompound(packet);
            assert.is(truncated, 0);
            assert.ok(parts.length >= 2 && parts.length <= 255);
            back.push(...parts);
          } else {
            back.push(packet);
          }
        }
        assert.equal(back, messages);
      },
    ),
    { numRuns: 200 },
  );
});

test.run();

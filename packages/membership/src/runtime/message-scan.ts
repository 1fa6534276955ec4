/**
 * Where a plaintext stream message ends, found resumably. `decodeStream` is a pure function of
 * the bytes so far, so calling it on every chunk re-reads the whole buffer each time: a peer
 * that trickles a 20 MiB push/pull in small chunks would cost quadratic time and hold the event
 * loop for minutes. {@link MessageScan} walks the msgpack values once, continuing where the
 * last chunk stopped, and says when the whole message is there (or when only the decoder can
 * tell, because something is malformed or too large); the reader decodes once at that point.
 */
import { MessageType } from '../wire/message-types.js';
import { decodePushPullHeader, decodeUserMsgHeader } from '../wire/messages.js';
import { MAX_MSGPACK_DEPTH } from '../wire/msgpack.js';

/** Types whose plaintext is `[type]`, msgpack values, then possibly raw bytes. */
const SCANNED: ReadonlySet<number> = new Set([
  MessageType.ping,
  MessageType.ackResp,
  MessageType.err,
  MessageType.compress,
  MessageType.pushPull,
  MessageType.user,
]);

/** Resumable end-of-message scan of one plaintext stream; see the module description. */
export class MessageScan {
  /** Next byte to scan (0 is the type byte). */
  #offset = 1;
  /** Values still to come in each open map or array, innermost last. */
  readonly #open: number[] = [];
  /** Complete top-level values so far, and how many the message has. */
  #values = 0;
  #wanted = 1;
  /** Raw bytes after the values (push/pull user state, user message payload). */
  #raw = 0;
  #headerRead = false;

  /**
   * True when `buf` (everything received, growing between calls) may hold the whole message, or
   * when it is malformed or too large so that the decoder will refuse it; false while more
   * bytes are certainly needed.
   */
  ready(buf: Uint8Array, limit: number): boolean {
    if (buf.length === 0) return false;
    if (buf.length >= limit || !SCANNED.has(buf[0] ?? -1)) return true;
    while (this.#values < this.#wanted) {
      const step = this.#step(buf, limit);
      if (step !== 'ok') return step === 'bad';
      if (this.#values === 1 && !this.#headerRead) {
        this.#headerRead = true;
        if (!this.#counted(buf, limit)) return true;
      }
    }
    return buf.length >= this.#offset + this.#raw;
  }

  /** After the header of a push/pull or user message: how many values and raw bytes follow. */
  #counted(buf: Uint8Array, limit: number): boolean {
    try {
      const head = buf.subarray(0, this.#offset);
      if (buf[0] === MessageType.pushPull) {
        const header = decodePushPullHeader(head);
        if (!(header.nodes >= 0 && header.nodes <= limit && header.userStateLen >= 0)) return false;
        this.#wanted += header.nodes;
        this.#raw = header.userStateLen;
      } else if (buf[0] === MessageType.user) {
        this.#raw = decodeUserMsgHeader(head).userMsgLen;
      } else return true;
    } catch {
      return false;
    }
    return this.#raw >= 0 && this.#raw <= limit;
  }

  /** Scans one msgpack token: `more` when it is cut short, `bad` when it cannot be valid. */
  #step(buf: Uint8Array, limit: number): 'ok' | 'more' | 'bad' {
    const at = this.#offset;
    if (at >= buf.length) return 'more';
    const b = buf[at] ?? 0;
    let lengthBytes = 0;
    let fixed = 0;
    let perEntry = 0;
    let count = 0;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) {
      // positive/negative fixint, nil, false, true
    } else if (b <= 0x8f) {
      perEntry = 2;
      count = b & 0x0f;
    } else if (b <= 0x9f) {
      perEntry = 1;
      count = b & 0x0f;
    } else if (b <= 0xbf) {
      fixed = b & 0x1f;
    } else {
      switch (b) {
        case 0xc4:
        case 0xd9:
          lengthBytes = 1;
          break;
        case 0xc5:
        case 0xda:
          lengthBytes = 2;
          break;
        case 0xc6:
        case 0xdb:
          lengthBytes = 4;
          break;
        case 0xc7:
          lengthBytes = 1;
          fixed = 1;
          break;
        case 0xc8:
          lengthBytes = 2;
          fixed = 1;
          break;
        case 0xc9:
          lengthBytes = 4;
          fixed = 1;
          break;
        case 0xcc:
        case 0xd0:
          fixed = 1;
          break;
        case 0xcd:
        case 0xd1:
        case 0xd4:
          fixed = 2;
          break;
        case 0xd5:
          fixed = 3;
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
          fixed = 4;
          break;
        case 0xd6:
          fixed = 5;
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          fixed = 8;
          break;
        case 0xd7:
          fixed = 9;
          break;
        case 0xd8:
          fixed = 17;
          break;
        case 0xdc:
        case 0xde:
          lengthBytes = 2;
          perEntry = b === 0xde ? 2 : 1;
          break;
        case 0xdd:
        case 0xdf:
          lengthBytes = 4;
          perEntry = b === 0xdf ? 2 : 1;
          break;
        default:
          return 'bad'; // 0xc1 is never used
      }
    }
    const body = at + 1 + lengthBytes;
    if (body > buf.length) return 'more';
    let length = 0;
    for (let i = at + 1; i < body; i++) length = length * 256 + (buf[i] ?? 0);
    if (perEntry > 0) {
      const values = (lengthBytes > 0 ? length : count) * perEntry;
      if (values > limit) return 'bad';
      this.#offset = body;
      if (values > 0) {
        if (this.#open.length >= MAX_MSGPACK_DEPTH) return 'bad';
        this.#open.push(values);
        return 'ok';
      }
    } else {
      const size = length + fixed;
      if (size > limit) return 'bad';
      if (body + size > buf.length) return 'more';
      this.#offset = body + size;
    }
    // A value is complete: count it in its container, closing every container it completes.
    for (;;) {
      const last = this.#open.length - 1;
      if (last < 0) {
        this.#values++;
        return 'ok';
      }
      const left = (this.#open[last] ?? 1) - 1;
      if (left > 0) {
        this.#open[last] = left;
        return 'ok';
      }
      this.#open.pop();
    }
  }
}

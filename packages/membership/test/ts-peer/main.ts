// The TypeScript twin of test/go-peer/main.go: one @clusteros/membership `Memberlist` in its own
// process, driven over stdin/stdout with one JSON object per line. It takes the same flags, prints
// the same ready line and events, and answers the same commands with the same fields as the Go
// peer, so that test/support/go-peer.ts drives either (`startTsPeer`, `startPeer`).
//
//   node --conditions=@clusteros/source --import tsx packages/membership/test/ts-peer/main.ts -name a
//
// Stdout carries only JSON lines, written as Go's encoding/json writes them (keys sorted; <, >, &,
// U+2028 and U+2029 escaped). Memberlist's own log goes to stderr. The encryption key is read from
// a file (-key-file) and is never printed. Every flag value is checked: a bad one is reported on
// stderr and the process exits with code 2 (as Go's flag package does); a failure to start exits 1.
// SIGTERM, SIGINT, stdin EOF and the shutdown command shut the memberlist down (no leave message)
// and exit 0.
//
// Known differences from the Go peer: the broadcast command's `queued` is how many broadcasts this
// process has queued with `Memberlist.queueBroadcast` (the runtime does not expose the length of
// its user broadcast queue, which is what the Go peer reports); a command's `id` is echoed as the
// JSON value it parses to (Go echoes the raw text).
import { open } from 'node:fs/promises';
import { hostname } from 'node:os';
import {
  isKeyringError,
  Keyring,
  type Logger,
  lanConfig,
  localConfig,
  META_MAX_SIZE,
  type Member,
  Memberlist,
  type MemberlistDelegate,
  type MemberlistTuning,
  type MemberState,
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
  validateTuning,
  wanConfig,
} from '../../src/index.js';
import { isIpLiteral } from '../../src/runtime/ip.js';

const PROGRAM = 'memberlist-ts-peer';
/** Longest stdin line (bufio.Scanner's buffer in the Go peer). */
const MAX_LINE_CHARS = 16 * 1024 * 1024;
/** Largest accepted key file: a key is at most 32 bytes, 71 characters with a prefix. */
const MAX_KEY_FILE_BYTES = 4096;
/** Largest -user-state, in UTF-8 bytes. */
const MAX_USER_STATE_BYTES = 64 * 1024;
/** Largest accepted duration flag: an hour, far below Node's 2^31 − 1 ms timer limit. */
const MAX_FLAG_MS = 3_600_000;
/** Largest -suspicion-mult. */
const MAX_SUSPICION_MULT = 100;
/** Node timers cannot wait longer; a larger delay would fire after 1 ms. */
const MAX_TIMER_MS = 2_147_483_647;
/** How long exit waits for the last stdout/stderr lines to reach the pipe. */
const FLUSH_LIMIT_MS = 2_000;

// ---------------------------------------------------------------------------------------------
// Output: one JSON object per line, encoded as Go's encoding/json encodes a map.

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  const record = value as Record<string, unknown>;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(record).sort()) sorted[key] = sortKeys(record[key]);
  return sorted;
}

const GO_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/** JSON as Go marshals a map: keys sorted, HTML-sensitive characters escaped. */
function goJson(value: unknown): string {
  return JSON.stringify(sortKeys(value)).replace(/[<>&\u2028\u2029]/g, (c) => GO_ESCAPES[c] ?? c);
}

let lastWrite: Promise<void> = Promise.resolve();

function emit(fields: Record<string, unknown>): void {
  const line = `${goJson(fields)}\n`;
  lastWrite = new Promise((done) => {
    process.stdout.write(line, () => done());
  });
}

function writeStderr(text: string): Promise<void> {
  return new Promise((done) => {
    process.stderr.write(text, () => done());
  });
}

/** Waits (bounded) until what was written has been handed to the pipes, then exits. */
async function exitAfterFlush(code: number): Promise<never> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all([lastWrite, writeStderr('')]),
    new Promise<void>((done) => {
      timer = setTimeout(done, FLUSH_LIMIT_MS);
    }),
  ]);
  clearTimeout(timer);
  process.exit(code);
}

process.stdout.on('error', () => {
  // The reader is gone; stdin's EOF follows and stops the process.
});

const stderrLogger = (level: string) => (fields: Record<string, unknown>, message: string) => {
  let detail = '';
  try {
    detail = JSON.stringify(fields);
  } catch {
    detail = '{}';
  }
  process.stderr.write(`${new Date().toISOString()} [${level}] ${message} ${detail}\n`);
};

const logger: Logger = {
  debug: stderrLogger('DEBUG'),
  info: stderrLogger('INFO'),
  warn: stderrLogger('WARN'),
  error: stderrLogger('ERROR'),
};

// ---------------------------------------------------------------------------------------------
// Node views, as the Go peer renders a *memberlist.Node.

const STATE_NUMBER: Record<MemberState, number> = { alive: 0, suspect: 1, dead: 2, left: 3 };

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

function nodeView(member: Member): Record<string, unknown> {
  const v = member.versions;
  return {
    name: member.name,
    addr: member.addr,
    port: member.port,
    meta_b64: b64(member.meta),
    state: STATE_NUMBER[member.state],
    incarnation: member.incarnation,
    vsn: [v.protocolMin, v.protocolMax, v.protocolCur, v.delegateMin, v.delegateMax, v.delegateCur],
  };
}

// ---------------------------------------------------------------------------------------------
// Strict decoders (Go's base64.StdEncoding and encoding/hex).

const BASE64_ALPHABET = /[A-Za-z0-9+/]/;

/** Decodes standard, padded base64 as Go does (CR and LF ignored); throws with the bad offset. */
function decodeBase64Strict(text: string): Uint8Array {
  const clean = text.replace(/[\r\n]/g, '');
  let i = 0;
  while (i < clean.length && BASE64_ALPHABET.test(clean.charAt(i))) i++;
  const dataChars = i;
  let padding = 0;
  while (i < clean.length && clean.charAt(i) === '=') {
    padding++;
    i++;
  }
  if (i < clean.length) throw new Error(`illegal base64 data at input byte ${i}`);
  const valid =
    (padding === 0 && dataChars % 4 === 0) ||
    (padding > 0 && padding <= 2 && (dataChars + padding) % 4 === 0 && dataChars % 4 === 4 - padding);
  if (!valid)
    throw new Error(`illegal base64 data at input byte ${Math.max(0, dataChars - (dataChars % 4))}`);
  return new Uint8Array(Buffer.from(clean, 'base64'));
}

function decodeHexStrict(text: string): Uint8Array {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(text)) throw new Error('invalid hex');
  return new Uint8Array(Buffer.from(text, 'hex'));
}

function keySizeOk(key: Uint8Array): boolean {
  try {
    Keyring.validateKey(key);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Flags: the Go peer's, parsed as Go's flag package parses them.

class UsageError extends Error {}
class HelpRequested extends Error {}

interface FlagSpec {
  readonly kind: 'string' | 'int';
  readonly usage: string;
  readonly fallback: () => string;
}

const FLAGS: Readonly<Record<string, FlagSpec>> = {
  name: { kind: 'string', usage: 'node name', fallback: () => `${hostname()}-${process.pid}` },
  bind: { kind: 'string', usage: 'bind address', fallback: () => '127.0.0.1' },
  port: { kind: 'int', usage: 'bind port (0 picks a free one)', fallback: () => '0' },
  config: { kind: 'string', usage: 'base configuration: lan, local or wan', fallback: () => 'local' },
  'probe-interval-ms': {
    kind: 'int',
    usage: 'override ProbeInterval (0 keeps the base)',
    fallback: () => '0',
  },
  'probe-timeout-ms': { kind: 'int', usage: 'override ProbeTimeout', fallback: () => '0' },
  'gossip-interval-ms': { kind: 'int', usage: 'override GossipInterval', fallback: () => '0' },
  'pushpull-interval-ms': { kind: 'int', usage: 'override PushPullInterval', fallback: () => '0' },
  'suspicion-mult': { kind: 'int', usage: 'override SuspicionMult', fallback: () => '0' },
  'tcp-timeout-ms': { kind: 'int', usage: 'override TCPTimeout', fallback: () => '0' },
  'protocol-version': {
    kind: 'int',
    usage: 'override ProtocolVersion (-1 keeps the base)',
    fallback: () => '-1',
  },
  'key-file': {
    kind: 'string',
    usage: 'file holding the encryption key as base64 or hex text',
    fallback: () => '',
  },
  'meta-b64': { kind: 'string', usage: 'initial node meta, base64', fallback: () => '' },
  'user-state': { kind: 'string', usage: "what the delegate's LocalState returns", fallback: () => '' },
  'delegate-version': {
    kind: 'string',
    usage: 'delegate protocol MIN,MAX,CUR',
    fallback: () => '0,0,0',
  },
  compression: { kind: 'string', usage: 'override EnableCompression: true or false', fallback: () => '' },
  'gossip-verify-incoming': {
    kind: 'string',
    usage: 'override GossipVerifyIncoming: true or false',
    fallback: () => '',
  },
  'gossip-verify-outgoing': {
    kind: 'string',
    usage: 'override GossipVerifyOutgoing: true or false',
    fallback: () => '',
  },
};

function usage(): string {
  const lines = [`Usage of ${PROGRAM}:`];
  for (const [name, spec] of Object.entries(FLAGS).sort(([a], [b]) => (a < b ? -1 : 1)))
    lines.push(`  -${name} ${spec.kind}`, `    \t${spec.usage}`);
  return `${lines.join('\n')}\n`;
}

/** Splits argv into flag values (last one wins), as Go's flag.Parse; throws UsageError. */
function parseArgv(argv: readonly string[]): Map<string, string> {
  const values = new Map<string, string>();
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i] ?? '';
    if (arg.length < 2 || !arg.startsWith('-'))
      throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    let body = arg.slice(1);
    if (body.startsWith('-')) {
      body = body.slice(1);
      if (body.length === 0) {
        i++;
        break; // "--" ends the flags
      }
    }
    if (body.length === 0 || body.startsWith('-') || body.startsWith('='))
      throw new UsageError(`bad flag syntax: ${arg}`);
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    let value = eq >= 0 ? body.slice(eq + 1) : undefined;
    i++;
    if (FLAGS[name] === undefined) {
      if (name === 'h' || name === 'help') throw new HelpRequested();
      throw new UsageError(`flag provided but not defined: -${name}`);
    }
    if (value === undefined) {
      if (i >= argv.length) throw new UsageError(`flag needs an argument: -${name}`);
      value = argv[i] ?? '';
      i++;
    }
    values.set(name, value);
  }
  if (i < argv.length) throw new UsageError(`unexpected argument ${JSON.stringify(argv[i])}`);
  return values;
}

function parseIntFlag(name: string, text: string, min: number, max: number): number {
  if (!/^[+-]?\d{1,16}$/.test(text))
    throw new UsageError(`invalid value ${JSON.stringify(text)} for flag -${name}: parse error`);
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw new UsageError(
      `invalid value ${JSON.stringify(text)} for flag -${name}: must be in [${min}, ${max}]`,
    );
  return value;
}

/** strconv.ParseBool's spellings; '' keeps the base value. */
function parseBoolFlag(name: string, text: string): boolean | undefined {
  if (text === '') return undefined;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  throw new UsageError(`-${name}: strconv.ParseBool: parsing ${JSON.stringify(text)}: invalid syntax`);
}

interface PeerSettings {
  readonly name: string;
  readonly bind: string;
  readonly port: number;
  readonly tuning: MemberlistTuning;
  readonly keyFile: string;
  readonly meta: Uint8Array;
  readonly userState: Uint8Array;
  readonly delegateVersions: { readonly min: number; readonly max: number; readonly cur: number };
}

function settingsFromArgv(argv: readonly string[]): PeerSettings {
  const given = parseArgv(argv);
  const get = (name: string): string => given.get(name) ?? FLAGS[name]?.fallback() ?? '';

  const name = get('name');
  const hasControl = [...name].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f);
  if (name.length === 0 || name.length > 255 || hasControl)
    throw new UsageError('-name must be 1 to 255 characters without control characters');
  const bind = get('bind');
  if (!isIpLiteral(bind))
    throw new UsageError(`-bind must be an IPv4 or IPv6 address, not ${JSON.stringify(bind)}`);
  const port = parseIntFlag('port', get('port'), 0, 65_535);

  const config = get('config');
  const base =
    config === 'lan' ? lanConfig : config === 'local' ? localConfig : config === 'wan' ? wanConfig : null;
  if (base === null) throw new UsageError(`-config must be lan, local or wan, not ${JSON.stringify(config)}`);
  const tuning: { -readonly [K in keyof MemberlistTuning]: MemberlistTuning[K] } = { ...base() };
  const durations: [
    string,
    'probeIntervalMs' | 'probeTimeoutMs' | 'gossipIntervalMs' | 'pushPullIntervalMs' | 'tcpTimeoutMs',
  ][] = [
    ['probe-interval-ms', 'probeIntervalMs'],
    ['probe-timeout-ms', 'probeTimeoutMs'],
    ['gossip-interval-ms', 'gossipIntervalMs'],
    ['pushpull-interval-ms', 'pushPullIntervalMs'],
    ['tcp-timeout-ms', 'tcpTimeoutMs'],
  ];
  for (const [flag, field] of durations) {
    const value = parseIntFlag(flag, get(flag), 0, MAX_FLAG_MS);
    if (value > 0) tuning[field] = value;
  }
  const suspicionMult = parseIntFlag('suspicion-mult', get('suspicion-mult'), 0, MAX_SUSPICION_MULT);
  if (suspicionMult > 0) tuning.suspicionMult = suspicionMult;
  const protocolVersion = parseIntFlag('protocol-version', get('protocol-version'), -1, PROTOCOL_VERSION_MAX);
  if (protocolVersion >= 0) {
    if (protocolVersion < PROTOCOL_VERSION_MIN)
      throw new UsageError(
        `-protocol-version must be -1 or in [${PROTOCOL_VERSION_MIN}, ${PROTOCOL_VERSION_MAX}]`,
      );
    tuning.protocolVersion = protocolVersion;
  }
  const booleans: [string, 'enableCompression' | 'gossipVerifyIncoming' | 'gossipVerifyOutgoing'][] = [
    ['compression', 'enableCompression'],
    ['gossip-verify-incoming', 'gossipVerifyIncoming'],
    ['gossip-verify-outgoing', 'gossipVerifyOutgoing'],
  ];
  for (const [flag, field] of booleans) {
    const value = parseBoolFlag(flag, get(flag));
    if (value !== undefined) tuning[field] = value;
  }
  let checked: MemberlistTuning;
  try {
    checked = validateTuning(tuning);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }

  const parts = get('delegate-version').split(',');
  if (parts.length !== 3) throw new UsageError('-delegate-version must be MIN,MAX,CUR');
  const [min = 0, max = 0, cur = 0] = parts.map((p) => parseIntFlag('delegate-version', p.trim(), 0, 255));
  if (cur < min || cur > max) throw new UsageError('-delegate-version: CUR must lie within [MIN, MAX]');

  let meta: Uint8Array;
  try {
    meta = decodeBase64Strict(get('meta-b64'));
  } catch (error) {
    throw new UsageError(`-meta-b64: ${(error as Error).message}`);
  }
  if (meta.length > META_MAX_SIZE)
    throw new UsageError(`-meta-b64: ${meta.length} bytes, limit ${META_MAX_SIZE}`);
  const userState = new TextEncoder().encode(get('user-state'));
  if (userState.length > MAX_USER_STATE_BYTES)
    throw new UsageError(`-user-state: ${userState.length} bytes, limit ${MAX_USER_STATE_BYTES}`);

  return {
    name,
    bind,
    port,
    tuning: checked,
    keyFile: get('key-file'),
    meta,
    userState,
    delegateVersions: { min, max, cur },
  };
}

/**
 * Reads a key file: text in base64 or hex, optionally prefixed "base64:" or "hex:" (as the Go
 * peer). Errors never quote the key.
 */
async function readKey(path: string): Promise<Uint8Array> {
  let raw: Buffer;
  try {
    const file = await open(path, 'r');
    try {
      const { size } = await file.stat();
      if (size > MAX_KEY_FILE_BYTES) throw new Error(`larger than ${MAX_KEY_FILE_BYTES} bytes`);
      raw = await file.readFile();
    } finally {
      await file.close();
    }
  } catch (error) {
    throw new UsageError(`read key file: ${(error as Error).message}`);
  }
  const text = raw.toString('utf8').trim();
  raw.fill(0);
  let key: Uint8Array;
  try {
    if (text.startsWith('hex:')) key = decodeHexStrict(text.slice('hex:'.length));
    else if (text.startsWith('base64:')) key = decodeBase64Strict(text.slice('base64:'.length));
    else {
      let hex: Uint8Array | undefined;
      try {
        hex = decodeHexStrict(text);
      } catch {
        hex = undefined;
      }
      key = hex !== undefined && keySizeOk(hex) ? hex : decodeBase64Strict(text);
    }
  } catch {
    throw new UsageError('key file is neither valid base64 nor valid hex');
  }
  if (!keySizeOk(key))
    throw new UsageError(`key from key file: key size must be 16, 24 or 32 bytes, got ${key.length}`);
  return key;
}

// ---------------------------------------------------------------------------------------------
// Commands.

interface Command {
  id: unknown;
  cmd: string;
  addrs: string[];
  meta_b64: string;
  timeout_ms: number;
  node: string;
  reliable: boolean;
  data_b64: string;
  op: string;
  key_b64: string;
}

type FieldType = 'string' | 'int' | 'bool' | 'strings' | 'raw';
const COMMAND_FIELDS: Readonly<Record<string, FieldType>> = {
  id: 'raw',
  cmd: 'string',
  addrs: 'strings',
  meta_b64: 'string',
  timeout_ms: 'int',
  node: 'string',
  reliable: 'bool',
  data_b64: 'string',
  op: 'string',
  key_b64: 'string',
};
const GO_TYPES: Record<FieldType, string> = {
  string: 'string',
  int: 'int',
  bool: 'bool',
  strings: '[]string',
  raw: 'json.RawMessage',
};

function jsonKind(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'object' : typeof value;
}

/** Decodes one command line as the Go peer's json.Unmarshal into its command struct. */
function parseCommand(line: string): Command {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (error) {
    throw new Error(`bad command line: ${(error as Error).message}`);
  }
  const c: Command = {
    id: null,
    cmd: '',
    addrs: [],
    meta_b64: '',
    timeout_ms: 0,
    node: '',
    reliable: false,
    data_b64: '',
    op: '',
    key_b64: '',
  };
  if (raw === null) return c;
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new Error(
      `bad command line: json: cannot unmarshal ${jsonKind(raw)} into Go value of type main.command`,
    );
  const fields = c as unknown as Record<string, unknown>;
  // Go matches keys case-insensitively; a later key overwrites an earlier one.
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    const field = key.toLowerCase();
    const type = COMMAND_FIELDS[field];
    if (type === undefined || (value === null && type !== 'raw')) continue;
    const mismatch = (): Error =>
      new Error(
        `bad command line: json: cannot unmarshal ${jsonKind(value)} into Go struct field command.${field} of type ${GO_TYPES[type]}`,
      );
    switch (type) {
      case 'raw':
        fields[field] = value;
        break;
      case 'string':
        if (typeof value !== 'string') throw mismatch();
        fields[field] = value;
        break;
      case 'int':
        if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw mismatch();
        fields[field] = value;
        break;
      case 'bool':
        if (typeof value !== 'boolean') throw mismatch();
        fields[field] = value;
        break;
      case 'strings':
        if (!Array.isArray(value) || value.some((v) => v !== null && typeof v !== 'string')) throw mismatch();
        fields[field] = value.map((v) => (typeof v === 'string' ? v : ''));
        break;
    }
  }
  return c;
}

function decodeB64(field: string, value: string): Uint8Array {
  try {
    return decodeBase64Strict(value);
  } catch (error) {
    throw new Error(`${field}: ${(error as Error).message}`);
  }
}

/** A command's timeout as Go's memberlist takes it: 0 or less waits without bound. */
const timeoutOf = (ms: number): number => (ms > 0 ? Math.min(ms, MAX_TIMER_MS) : MAX_TIMER_MS);

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

class Peer {
  #stopping = false;
  #broadcastsQueued = 0;

  constructor(private readonly list: Memberlist) {}

  /** Shuts memberlist down (no leave message: a leave is its own command) and exits 0. */
  stop(reason: string): void {
    if (this.#stopping) return;
    this.#stopping = true;
    void (async () => {
      try {
        await this.list.shutdown();
      } catch (error) {
        process.stderr.write(`${PROGRAM}: shutdown: ${messageOf(error)}\n`);
      }
      emit({ event: 'shutdown', reason });
      await exitAfterFlush(0);
    })();
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  #findMember(name: string): Member {
    const member = this.list.members().find((m) => m.name === name);
    if (member === undefined) throw new Error(`no live member named ${JSON.stringify(name)}`);
    return member;
  }

  async #execute(c: Command): Promise<Record<string, unknown>> {
    const list = this.list;
    switch (c.cmd) {
      case 'join': {
        if (c.addrs.length === 0) throw new Error('join: addrs is empty');
        try {
          return { contacted: await list.join(c.addrs) };
        } catch (error) {
          throw new Error(`join: ${messageOf(error)}`);
        }
      }
      case 'members':
        return { members: list.members().map(nodeView) };
      case 'local':
        return { node: nodeView(list.localNode) };
      case 'num_members':
        return { num_members: list.numMembers() };
      case 'health':
        return { score: list.healthScore() };
      case 'update_meta': {
        const meta = decodeB64('meta_b64', c.meta_b64);
        if (meta.length > META_MAX_SIZE)
          throw new Error(`meta is ${meta.length} bytes, limit ${META_MAX_SIZE}`);
        try {
          await list.updateMeta(meta, timeoutOf(c.timeout_ms));
        } catch (error) {
          throw new Error(`update_meta: ${messageOf(error)}`);
        }
        return {};
      }
      case 'send': {
        const data = decodeB64('data_b64', c.data_b64);
        const node = this.#findMember(c.node);
        try {
          if (c.reliable) await list.sendReliable(node, data);
          else list.sendBestEffort(node, data);
        } catch (error) {
          throw new Error(`send: ${messageOf(error)}`);
        }
        return {};
      }
      case 'broadcast': {
        const data = decodeB64('data_b64', c.data_b64);
        list.queueBroadcast(data);
        return { queued: ++this.#broadcastsQueued };
      }
      case 'leave': {
        try {
          await list.leave(timeoutOf(c.timeout_ms));
        } catch (error) {
          throw new Error(`leave: ${messageOf(error)}`);
        }
        return {};
      }
      case 'keyring': {
        const key = decodeB64('key_b64', c.key_b64);
        const ring = list.keyring;
        try {
          switch (c.op) {
            case 'install':
              ring.install(key);
              break;
            case 'use':
              ring.use(key);
              break;
            case 'remove':
              if (ring.size === 0) throw new Error('the keyring is empty');
              ring.remove(key);
              break;
            default:
              throw new Error(`op must be install, use or remove, not ${JSON.stringify(c.op)}`);
          }
        } catch (error) {
          const detail = isKeyringError(error) ? error.message : messageOf(error);
          throw new Error(`keyring ${c.op}: ${detail}`);
        } finally {
          key.fill(0);
        }
        return { num_keys: ring.size };
      }
      default:
        throw new Error(`unknown command ${JSON.stringify(c.cmd)}`);
    }
  }

  async #handle(c: Command): Promise<void> {
    let reply: Record<string, unknown>;
    try {
      reply = await this.#execute(c);
    } catch (error) {
      if (!this.#stopping) emit({ event: 'error', id: c.id, message: messageOf(error) });
      return;
    }
    if (!this.#stopping) emit({ ...reply, event: 'reply', id: c.id });
  }

  /** One stdin line: shutdown stops the process; any other command runs concurrently. */
  line(text: string): void {
    if (this.#stopping) return;
    const trimmed = text.trim();
    if (trimmed === '') return;
    let c: Command;
    try {
      c = parseCommand(trimmed);
    } catch (error) {
      emit({ event: 'error', id: null, message: messageOf(error) });
      return;
    }
    if (c.cmd === 'shutdown') {
      emit({ event: 'reply', id: c.id });
      this.stop('command');
      return;
    }
    void this.#handle(c);
  }

  /** Reads commands from stdin until EOF (or a line longer than the Go peer accepts). */
  readCommands(): void {
    let buffered = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        this.line(line.endsWith('\r') ? line.slice(0, -1) : line);
      }
      if (buffered.length > MAX_LINE_CHARS) {
        buffered = '';
        process.stderr.write(`${PROGRAM}: reading stdin: token too long\n`);
        process.stdin.pause();
        this.stop('stdin-eof');
      }
    });
    process.stdin.on('end', () => {
      if (buffered !== '') this.line(buffered);
      buffered = '';
      this.stop('stdin-eof');
    });
    process.stdin.on('error', (error) => {
      process.stderr.write(`${PROGRAM}: reading stdin: ${error.message}\n`);
      this.stop('stdin-eof');
    });
  }
}

async function main(): Promise<void> {
  let settings: PeerSettings;
  let key: Uint8Array | undefined;
  try {
    settings = settingsFromArgv(process.argv.slice(2));
    if (settings.keyFile !== '') key = await readKey(settings.keyFile);
  } catch (error) {
    if (error instanceof HelpRequested) {
      await writeStderr(usage());
      return exitAfterFlush(0);
    }
    if (error instanceof UsageError) {
      await writeStderr(`${PROGRAM}: ${error.message}\n${usage()}`);
      return exitAfterFlush(2);
    }
    throw error;
  }

  // Always give memberlist a keyring, empty when there is no key: installing a key later then
  // turns encryption on, and the keyring commands always have something to act on.
  const keyring = new Keyring(key ?? null);
  key?.fill(0);
  const userState = settings.userState;
  const delegate: MemberlistDelegate = {
    notifyMessage: (message) => emit({ event: 'message', data_b64: b64(message) }),
    localState: () => userState.slice(),
    mergeRemoteState: (state, join) => emit({ event: 'merge_remote_state', join, data_b64: b64(state) }),
  };

  let list: Memberlist;
  try {
    list = await Memberlist.create({
      ...settings.tuning,
      name: settings.name,
      bindAddr: settings.bind,
      bindPort: settings.port,
      keyring,
      meta: settings.meta,
      delegate,
      delegateVersions: settings.delegateVersions,
      logger,
    });
  } catch (error) {
    await writeStderr(`${PROGRAM}: create: ${messageOf(error)}\n`);
    return exitAfterFlush(1);
  }
  list.on('join', (member) => emit({ event: 'join', node: nodeView(member) }));
  list.on('leave', (member) => emit({ event: 'leave', node: nodeView(member) }));
  list.on('update', (member) => emit({ event: 'update', node: nodeView(member) }));
  const peer = new Peer(list);

  process.on('SIGTERM', () => peer.stop('signal terminated'));
  process.on('SIGINT', () => peer.stop('signal interrupt'));

  // Go's memberlist reports its own node's join while it is created; so does this peer.
  const local = list.localNode;
  emit({ event: 'join', node: nodeView(local) });
  emit({ event: 'ready', name: local.name, addr: local.addr, port: local.port });
  peer.readCommands();
}

main().catch(async (error: unknown) => {
  await writeStderr(
    `${PROGRAM}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  await exitAfterFlush(1);
});

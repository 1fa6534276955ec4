/**
 * `sinfo --json` of SLURM 22.05 (the `openapi/v0.0.38` envelope with a top-level `nodes` list and
 * no partitions), reduced to the fields ClusterOS uses. Node state comes as a lower-case base
 * state (`idle`, `mixed`, `allocated`, `down`, ...) plus a separate list of upper-case flags
 * (`DRAIN`, `NOT_RESPONDING`, ...).
 */
import {
  fail,
  type JsonObject,
  ownField,
  parseJsonObject,
  readArray,
  readInteger,
  readObject,
  readString,
  readStringList,
  readStringOr,
  throwOnReportedErrors,
  UINT32_MAX,
} from './json-fields.js';
import { SLURM_FIELD_MAX_CHARS, SLURM_LIST_MAX_ITEMS, SLURM_OUTPUT_MAX_CHARS } from './limits.js';

const SOURCE = 'sinfo --json';
const NODE_STATE = /^[A-Za-z][A-Za-z_]*$/;
const NODE_STATE_MAX_CHARS = 64;

/** One node as `sinfo --json` reports it (SLURM 22.05). */
export interface SlurmNodeInfo {
  /** The node name (`NodeName`; `name`). */
  readonly name: string;
  /** The base state in lower case (`state`): `idle`, `mixed`, `allocated`, `down`, `unknown`, `future`, ... */
  readonly state: string;
  /** The state flags as SLURM spells them (`state_flags`): `DRAIN`, `NOT_RESPONDING`, `DYNAMIC_NORM`, ... */
  readonly flags: readonly string[];
  /** The address slurmctld uses to reach the node (`NodeAddr`; `address`). */
  readonly address: string;
  /** The node's host name (`NodeHostname`; `hostname`). */
  readonly hostname: string;
  /** The number of CPUs SLURM schedules on the node (`cpus`). */
  readonly cpus: number;
  /** The configured memory in MiB (`RealMemory`; `real_memory`). */
  readonly realMemoryMiB: number;
  /** The partitions the node belongs to (`partitions`). */
  readonly partitions: readonly string[];
  /** Why the node is down or drained (`reason`), `''` when there is no reason. */
  readonly reason: string;
}

/**
 * Parses the output of `sinfo --json` (SLURM 22.05, `openapi/v0.0.38`), one entry per node.
 *
 * @throws SlurmParseError when the text is not JSON, is larger than
 *   {@link SLURM_OUTPUT_MAX_CHARS}, has a non-empty top-level `errors` list, lacks the `nodes`
 *   list, or any node has a missing, mistyped or out-of-range field that is read.
 */
export function parseSinfoJson(text: string): SlurmNodeInfo[] {
  const document = parseJsonObject(SOURCE, text);
  throwOnReportedErrors(SOURCE, document);
  const nodes = readArray(SOURCE, 'nodes', ownField(document, 'nodes'), SLURM_OUTPUT_MAX_CHARS);
  return nodes.map((node, i) => readNode(readObject(SOURCE, `nodes[${i}]`, node), `nodes[${i}]`));
}

function readNode(node: JsonObject, at: string): SlurmNodeInfo {
  const state = readString(SOURCE, node, at, 'state', NODE_STATE_MAX_CHARS);
  if (!NODE_STATE.test(state)) fail(SOURCE, `${at}.state`, 'a node state name', state);
  return {
    name: readString(SOURCE, node, at, 'name', SLURM_FIELD_MAX_CHARS),
    state: state.toLowerCase(),
    flags: readStringList(SOURCE, node, at, 'state_flags', SLURM_LIST_MAX_ITEMS, NODE_STATE_MAX_CHARS),
    address: readString(SOURCE, node, at, 'address', SLURM_FIELD_MAX_CHARS),
    hostname: readString(SOURCE, node, at, 'hostname', SLURM_FIELD_MAX_CHARS),
    cpus: readInteger(SOURCE, node, at, 'cpus', 0, UINT32_MAX),
    realMemoryMiB: readInteger(SOURCE, node, at, 'real_memory', 0, Number.MAX_SAFE_INTEGER),
    partitions: readStringList(SOURCE, node, at, 'partitions', SLURM_LIST_MAX_ITEMS, SLURM_FIELD_MAX_CHARS),
    reason: readStringOr(SOURCE, node, at, 'reason', SLURM_FIELD_MAX_CHARS, ''),
  };
}

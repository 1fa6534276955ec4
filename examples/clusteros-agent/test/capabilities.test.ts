// Capabilities: real detection on this machine, GPUs through a fake `nvidia-smi` put first on
// PATH (two GPUs; garbage, failing, slow and absent → 0 GPUs with a debug line, never an error),
// and the Serf-style tags: round trip, encoding limits and strict rejection of bad values.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir, totalmem } from 'node:os';
import { delimiter, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CAPABILITY_TAG_KEYS,
  type Capabilities,
  CapabilityTagError,
  capabilityTags,
  detectCapabilities,
  isCapabilityTagError,
  parseCapabilityTags,
  parseNvidiaSmiCsv,
  summarizeCapabilities,
} from '../src/capabilities.js';
import { MAX_TAG_KEY_LENGTH, MAX_TAG_VALUE_LENGTH } from '../src/config/schema.js';

interface Debug {
  obj: object;
  msg: string;
}
function debugLogger(): { lines: Debug[]; debug(obj: object, msg: string): void } {
  const lines: Debug[] = [];
  return { lines, debug: (obj, msg) => lines.push({ obj, msg }) };
}

/** Runs `body` with a temp dir holding an executable `nvidia-smi` made of `script`, first on PATH. */
async function withFakeSmi(
  script: string | null,
  body: (env: NodeJS.ProcessEnv) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cos-caps-'));
  try {
    if (script !== null) {
      const path = join(dir, 'nvidia-smi');
      await writeFile(path, `#!/bin/sh\n${script}\n`);
      await chmod(path, 0o755);
    }
    // With no script, PATH is the empty dir alone: nvidia-smi is certainly absent.
    const PATH = script === null ? dir : `${dir}${delimiter}${process.env.PATH ?? ''}`;
    await body({ ...process.env, PATH });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const ARGS_CHECK =
  'if [ "$1" != --query-gpu=name,memory.total ] || [ "$2" != --format=csv,noheader ]; then echo "bad args: $*" >&2; exit 2; fi';

test('real detection on this machine is sane', async () => {
  const log = debugLogger();
  const caps = await detectCapabilities({ logger: log });
  assert.is(caps.cpuCores, availableParallelism());
  assert.ok(Number.isInteger(caps.cpuCores) && caps.cpuCores >= 1);
  assert.is(caps.ramBytes, totalmem());
  assert.ok(caps.ramBytes > 64 * 1024 * 1024);
  assert.is(caps.arch, process.arch);
  assert.ok(Array.isArray(caps.gpus));
  for (const g of caps.gpus) assert.type(g.name, 'string');
  // Whatever this machine has, its tags parse back.
  assert.equal(parseCapabilityTags(capabilityTags(caps)), summarizeCapabilities(caps));
});

test('a fake nvidia-smi on PATH printing two GPUs', () =>
  withFakeSmi(
    `${ARGS_CHECK}\nprintf 'NVIDIA A100-SXM4-80GB, 81920 MiB\\nNVIDIA GeForce RTX 4090, 24564 MiB\\n'`,
    async (env) => {
      const log = debugLogger();
      const caps = await detectCapabilities({ env, logger: log });
      assert.equal(caps.gpus, [
        { name: 'NVIDIA A100-SXM4-80GB', memoryBytes: 81920 * 1024 * 1024 },
        { name: 'NVIDIA GeForce RTX 4090', memoryBytes: 24564 * 1024 * 1024 },
      ]);
      assert.equal(log.lines, []);
      const tags = capabilityTags(caps);
      assert.is(tags.gpus, '2');
      assert.is(tags.gpu_mem_bytes, String((81920 + 24564) * 1024 * 1024));
    },
  ));

test('garbage, failing and slow nvidia-smi → 0 GPUs and a debug line, no crash', async () => {
  const cases: [string, RegExp][] = [
    [`${ARGS_CHECK}\necho 'Segmentation fault? name memory'`, /unrecognised nvidia-smi output/],
    [`${ARGS_CHECK}\nprintf 'Tesla T4, lots\\n'`, /unrecognised nvidia-smi output/],
    [
      'echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver." >&2\nexit 9',
      /nvidia-smi failed \(exit 9\): NVIDIA-SMI has failed/,
    ],
    ['exec sleep 5', /nvidia-smi timed out after 200ms/],
  ];
  for (const [script, expected] of cases) {
    await withFakeSmi(script, async (env) => {
      const log = debugLogger();
      const caps = await detectCapabilities({ env, logger: log, timeoutMs: 200 });
      assert.equal(caps.gpus, [], script);
      assert.is(log.lines.length, 1, script);
      assert.match(log.lines[0]?.msg ?? '', expected);
    });
  }
});

test('absent nvidia-smi → 0 GPUs, no error', () =>
  withFakeSmi(null, async (env) => {
    const log = debugLogger();
    const caps = await detectCapabilities({ env, logger: log });
    assert.equal(caps.gpus, []);
    assert.match(log.lines[0]?.msg ?? '', /no GPUs: nvidia-smi not found/);
    // Without a logger it is silent, and an explicit missing path behaves the same.
    const caps2 = await detectCapabilities({ nvidiaSmiPath: '/nonexistent/nvidia-smi' });
    assert.equal(caps2.gpus, []);
  }));

test('parseNvidiaSmiCsv: units, [N/A], commas in names, empty output', () => {
  assert.equal(parseNvidiaSmiCsv(''), []);
  assert.equal(parseNvidiaSmiCsv('GPU A, 16 GiB\r\nGPU, B, 8192\n'), [
    { name: 'GPU A', memoryBytes: 16 * 1024 ** 3 },
    { name: 'GPU, B', memoryBytes: 8192 * 1024 ** 2 },
  ]);
  assert.equal(parseNvidiaSmiCsv('NVIDIA Jetson, [N/A]\n'), [{ name: 'NVIDIA Jetson', memoryBytes: null }]);
  for (const bad of ['no comma here', ', 100 MiB', 'GPU, -5 MiB', 'GPU, 1.5 GiB', 'GPU, 100 MB']) {
    assert.is(parseNvidiaSmiCsv(bad), undefined, bad);
  }
});

const sample: Capabilities = {
  cpuCores: 8,
  ramBytes: 34_359_738_368,
  arch: 'x64',
  gpus: [
    { name: 'NVIDIA A100-SXM4-80GB', memoryBytes: 85_899_345_920 },
    { name: 'NVIDIA Jetson', memoryBytes: null },
  ],
};

test('tags: exact form, round trip, fit the config tag limits, other tags ignored', () => {
  const tags = capabilityTags(sample);
  assert.equal(tags, {
    cpu_cores: '8',
    ram_bytes: '34359738368',
    arch: 'x64',
    gpus: '2',
    gpu_mem_bytes: '85899345920',
  });
  assert.equal(Object.keys(tags).sort(), [...CAPABILITY_TAG_KEYS].sort());
  for (const [k, v] of Object.entries(tags)) {
    assert.ok(k.length <= MAX_TAG_KEY_LENGTH && v.length <= MAX_TAG_VALUE_LENGTH, k);
  }
  const back = parseCapabilityTags({ ...tags, role: 'worker', zone: 'a' });
  assert.equal(back, summarizeCapabilities(sample));
  assert.equal(capabilityTags(back), tags);
  const none = { ...sample, gpus: [] };
  assert.equal(parseCapabilityTags(capabilityTags(none)), {
    cpuCores: 8,
    ramBytes: 34_359_738_368,
    arch: 'x64',
    gpus: 0,
    gpuMemoryBytes: 0,
  });
});

test('bad tags are rejected with a typed error naming the key', () => {
  const good = capabilityTags(sample);
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ ...good, cpu_cores: '0' }, 'cpu_cores', /from 1/],
    [{ ...good, cpu_cores: '-2' }, 'cpu_cores', /decimal integer/],
    [{ ...good, cpu_cores: '4.5' }, 'cpu_cores', /decimal integer/],
    [{ ...good, ram_bytes: '0x10' }, 'ram_bytes', /decimal integer/],
    [{ ...good, ram_bytes: '007' }, 'ram_bytes', /decimal integer/],
    [{ ...good, ram_bytes: '99999999999999999999' }, 'ram_bytes', /to 9007199254740991/],
    [{ ...good, gpus: '' }, 'gpus', /decimal integer/],
    [{ ...good, gpus: '0' }, 'gpu_mem_bytes', /must be 0 when gpus is 0/],
    [{ ...good, arch: 'X 64; rm' }, 'arch', /architecture name/],
  ];
  for (const key of CAPABILITY_TAG_KEYS) {
    const { [key]: _dropped, ...rest } = good;
    cases.push([rest, key, /missing/]);
  }
  for (const [tags, key, message] of cases) {
    try {
      parseCapabilityTags(tags);
      assert.unreachable(`accepted ${JSON.stringify(tags)}`);
    } catch (err) {
      assert.ok(err instanceof CapabilityTagError, String(err));
      assert.ok(isCapabilityTagError(err));
      assert.is((err as CapabilityTagError).name, 'CapabilityTagError');
      assert.is((err as CapabilityTagError).key, key, JSON.stringify(tags));
      assert.match((err as Error).message, message);
    }
  }
});

test.run();

// ONNX Runtime (CPU) side of bench/compare_onnx.sh: times one .onnx file written by
// bench/onnx_export.py on random input ids (all-ones attention mask, token types 0, the same ids
// every run, like bench/pytorch_bert.py) and prints one JSON object. Session: CPU execution
// provider, graphOptimizationLevel 'all', intraOpNumThreads THREADS, interOpNumThreads 1,
// sequential execution; a warm-up run, then timed runs for at least --seconds (and at least 2).
//
//   node bench/onnx_bert.mjs --model build/bench-bert-base.onnx/last_hidden.onnx --batch 8 --seq 128 \
//     [--threads 2] [--seconds 3] [--ops]
//
// A file with fixed input shapes (VARIANT.BxS.onnx of onnx_export.py --static) runs at its own
// shape only: --batch and --seq must match it (checked here, before ORT would refuse the inputs).
// --ops: first builds a session that only saves its optimized graph (optimizedModelFilePath, a
// temporary file), then counts the nodes of that graph by op type ("com.microsoft:Attention" for
// ops outside the default domain) with a minimal protobuf reader (ModelProto.graph = field 7,
// GraphProto.node = field 1, NodeProto.op_type = 4, NodeProto.domain = 7). The timed session is a
// separate one with the same options and no saved file. --ops-only: the same counts, no timing
// (prints ort_version, variant, input_dims: input_ids' dims as the file declares them, outputs,
// ops; the outputs are counted on an unoptimized session).
// --check DIR: runs DIR's inputs (written by onnx_export.py --check) and prints the maximum
// absolute difference of each output from DIR's expected outputs instead of timing.
// Needs onnxruntime-node in bench/onnx: (cd bench/onnx && npm install --ignore-scripts).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
let ort;
try {
  ort = createRequire(path.join(here, 'onnx', 'package.json'))('onnxruntime-node');
} catch (e) {
  console.error(`onnx_bert.mjs: cannot load onnxruntime-node (${e.code ?? e.message}): ` +
    'run npm install --ignore-scripts in bench/onnx');
  process.exit(2);
}

const args = { threads: process.env.THREADS ?? '2', seconds: '3', batch: '8', seq: '128' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const key = argv[i].replace(/^--/, '');
  if (key === 'ops') args.ops = true;
  else if (key === 'ops-only') args.ops = args.opsOnly = true;
  else if (['model', 'batch', 'seq', 'threads', 'seconds', 'check', 'variant'].includes(key) && i + 1 < argv.length) args[key] = argv[++i];
  else {
    console.error(`onnx_bert.mjs: unknown argument ${argv[i]}\n` +
      'usage: node bench/onnx_bert.mjs --model FILE.onnx [--batch B] [--seq S] [--threads T] [--seconds N] [--ops | --ops-only] [--check DIR]');
    process.exit(2);
  }
}
if (!args.model || !fs.existsSync(args.model)) {
  console.error(`onnx_bert.mjs: no model file ${args.model ?? '(give --model FILE.onnx)'}: make it with /usr/bin/python3 bench/onnx_export.py MODEL_DIR`);
  process.exit(2);
}
const threads = Number(args.threads);
const variant = args.variant ?? path.basename(args.model, '.onnx');
const options = () => ({
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
});
const ortVersion = ort.env.versions?.node ?? ort.env.versions?.common;

// Protocol buffers: the fields of one message as [field number, wire type, value or [start, end)].
function* fields(buf, start, end) {
  let p = start;
  const varint = () => {
    let v = 0, scale = 1, b;
    do {
      b = buf[p++];
      v += (b & 0x7f) * scale;
      scale *= 128;
    } while (b & 0x80);
    return v;
  };
  while (p < end) {
    const key = varint();
    const field = Math.floor(key / 8), wire = key & 7;
    if (wire === 0) yield [field, wire, varint()];
    else if (wire === 1) { p += 8; yield [field, wire, null]; }
    else if (wire === 5) { p += 4; yield [field, wire, null]; }
    else if (wire === 2) {
      const n = varint();
      yield [field, wire, [p, p + n]];
      p += n;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
}

function opCounts(file) {
  const buf = fs.readFileSync(file);
  const counts = {};
  for (const [f, w, graph] of fields(buf, 0, buf.length)) {
    if (f !== 7 || w !== 2) continue;
    for (const [g, gw, node] of fields(buf, graph[0], graph[1])) {
      if (g !== 1 || gw !== 2) continue;
      let op = '', domain = '';
      for (const [n, nw, s] of fields(buf, node[0], node[1])) {
        if (nw !== 2) continue;
        if (n === 4) op = buf.toString('utf8', s[0], s[1]);
        if (n === 7) domain = buf.toString('utf8', s[0], s[1]);
      }
      const name = domain && domain !== 'ai.onnx' ? `${domain}:${op}` : op;
      counts[name] = (counts[name] ?? 0) + 1;
    }
  }
  return Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
}

async function optimizedOps() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bertscope-ort-'));
  try {
    const file = path.join(dir, 'optimized.onnx');
    // logSeverityLevel 3: without ORT's warning that a saved level-'all' graph is hardware specific.
    const session = await ort.InferenceSession.create(args.model, { ...options(), optimizedModelFilePath: file, logSeverityLevel: 3 });
    await session.release();
    return opCounts(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const int64 = (data, dims) => new ort.Tensor('int64', data, dims);
const readBin = (file, Type) => {
  const bytes = new Uint8Array(fs.readFileSync(file));
  return new Type(bytes.buffer, 0, bytes.length / Type.BYTES_PER_ELEMENT);
};

if (args.check) {
  const meta = JSON.parse(fs.readFileSync(path.join(args.check, 'check.json'), 'utf8'));
  const dims = [meta.batch, meta.seq];
  const feeds = {};
  for (const name of ['input_ids', 'attention_mask', 'token_type_ids']) {
    feeds[name] = int64(readBin(path.join(args.check, `${name}.bin`), BigInt64Array), dims);
  }
  const session = await ort.InferenceSession.create(args.model, options());
  const out = await session.run(feeds);
  const diffs = {};
  for (const [name, shape] of Object.entries(meta.outputs)) {
    const want = readBin(path.join(args.check, `${name}.expected.bin`), Float32Array);
    const got = out[name];
    if (!got || got.dims.join('x') !== shape.join('x')) {
      console.error(`onnx_bert.mjs: output ${name}: ${got ? got.dims.join('x') : 'missing'}, expected ${shape.join('x')}`);
      process.exit(1);
    }
    let worst = 0;
    for (let i = 0; i < want.length; i++) {
      const d = Math.abs(got.data[i] - want[i]);
      if (!(d <= worst)) worst = d; // NaN propagates
    }
    diffs[name] = worst;
  }
  console.log(JSON.stringify({ impl: 'onnxruntime', ort_version: ortVersion, variant, max_abs_diff: diffs }));
  process.exit(0);
}

// The dims of input_ids as the file declares them: numbers where fixed, names where symbolic.
const inputDims = (session) => [...(session.inputMetadata?.find((m) => m.name === 'input_ids')?.shape ?? [])];

if (args.opsOnly) {
  const ops = await optimizedOps();
  const session = await ort.InferenceSession.create(args.model, { ...options(), graphOptimizationLevel: 'disabled' });
  console.log(JSON.stringify({ impl: 'onnxruntime', ort_version: ortVersion, variant, input_dims: inputDims(session),
    outputs: session.outputNames.length, ops }));
  await session.release();
  process.exit(0);
}

let vocab = 30522;
const metaFile = path.join(path.dirname(args.model), 'meta.json');
if (fs.existsSync(metaFile)) vocab = JSON.parse(fs.readFileSync(metaFile, 'utf8')).vocab_size;
const batch = Number(args.batch), seq = Number(args.seq);
let state = 42;
const random = () => { // mulberry32
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const n = batch * seq;
const ids = new BigInt64Array(n);
for (let i = 0; i < n; i++) ids[i] = BigInt(1000 + Math.floor(random() * (vocab - 1000)));
const feeds = {
  input_ids: int64(ids, [batch, seq]),
  attention_mask: int64(new BigInt64Array(n).fill(1n), [batch, seq]),
  token_type_ids: int64(new BigInt64Array(n), [batch, seq]),
};

const ops = args.ops ? await optimizedOps() : undefined;
const session = await ort.InferenceSession.create(args.model, options());
const fixed = inputDims(session);
if (fixed.length === 2 && fixed.every((d) => typeof d === 'number') && (fixed[0] !== batch || fixed[1] !== seq)) {
  console.error(`onnx_bert.mjs: ${args.model} has the fixed input shape ${fixed.join('x')}, not --batch ${batch} --seq ${seq}`);
  process.exit(2);
}
await session.run(feeds); // warm-up
const seconds = Number(args.seconds);
let done = 0;
const start = performance.now();
let elapsed = 0;
while (elapsed < seconds || done < 2) {
  await session.run(feeds);
  done++;
  elapsed = (performance.now() - start) / 1000;
}
console.log(JSON.stringify({
  impl: 'onnxruntime', ort_version: ortVersion, variant, batch, seq, threads, iterations: done, seconds: elapsed,
  tokens_per_s: (n * done) / elapsed, outputs: session.outputNames.length, ...(ops ? { ops } : {}),
}));

// Shared helpers of the browser tests: Playwright and Chromium, the bertscope binary, a served
// or file:// page watched for errors and outside requests, downloads, SVG/PNG checks,
// screenshots, and result-document fixtures of every shape the viewer draws.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export const SKIP = 77;

export const cli = process.env.BERTSCOPE_CLI;
export const testData = process.env.BERTSCOPE_TEST_DATA;
const nodeModules = process.env.BERTSCOPE_NODE_MODULES;
if (!cli || !testData || !nodeModules) {
  console.error('set BERTSCOPE_CLI, BERTSCOPE_TEST_DATA and BERTSCOPE_NODE_MODULES (CTest does)');
  process.exit(2);
}

export function findChromium() {
  if (process.env.BERTSCOPE_CHROMIUM) return process.env.BERTSCOPE_CHROMIUM;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return null;
}

// The same flags as `bertscope figure`: a fresh profile (Playwright makes one) and nothing
// that reaches the network at start-up.
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export async function launchBrowser() {
  const executablePath = findChromium();
  if (!executablePath) {
    console.log('SKIPPED: no Chromium installed (apt-get install chromium, or set BERTSCOPE_CHROMIUM)');
    process.exit(SKIP);
  }
  // playwright-core comes with the viewer's npm dependencies; without it the build is broken.
  const require = createRequire(path.join(nodeModules, 'noop.js'));
  const { chromium } = require('playwright-core');
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}

// A report's page opened in a fresh browser: `page` shows it, `parser` parses exported SVGs
// (svgFacts), `problems` collects console errors and requests outside the report.
export async function openReport(reportDir) {
  const browser = await launchBrowser();
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const parser = await context.newPage();
  const url = pathToFileURL(path.join(reportDir, 'index.html')).href;
  const problems = watch(page, (u) => u === url || u.startsWith('blob:') || u.startsWith('data:'));
  await page.goto(url);
  await page.waitForSelector('nav.doc-list button');
  return { browser, page, parser, url, problems };
}

// Every text of an SVG, and the attributes of the elements matching `selector`.
export async function svgFacts(page, text, selector) {
  return page.evaluate(
    ({ text, selector }) => {
      const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
      const err = doc.querySelector('parsererror');
      if (err) return { error: err.textContent };
      const texts = [...doc.querySelectorAll('text')].map((t) => t.textContent);
      const marks = [...doc.querySelectorAll(selector)].map((e) => Object.fromEntries([...e.attributes].map((a) => [a.name, a.value])));
      return { texts, marks };
    },
    { text, selector },
  );
}

export function tempDir(tag) {
  return mkdtempSync(path.join(os.tmpdir(), `bertscope-browser-${tag}-`));
}

export function run(args, opts = {}) {
  const r = spawnSync(cli, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...opts });
  if (r.status !== 0) throw new Error(`bertscope ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

export function makeModel(dir, { layers, hidden, heads, intermediate, seed = 1, initStd = '0.2', vocab, labels }) {
  run([
    'make-model',
    '--layers', String(layers),
    '--hidden', String(hidden),
    '--heads', String(heads),
    '--intermediate', String(intermediate),
    '--vocab', vocab ?? path.join(testData, 'bert-base-uncased', 'vocab.txt'),
    '--seed', String(seed),
    '--init-std', initStd,
    ...(labels ? ['--labels', String(labels)] : []),
    '--out', dir,
  ]);
  return dir;
}

// Starts `bertscope serve --port 0 ...` and resolves with its URL once it listens.
export function startServe(args) {
  return new Promise((resolve, reject) => {
    const proc = spawn(cli, ['serve', '--port', '0', '--quiet', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${out}${err}`)), 120000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/serving (http:\/\/[^/\s]+\/)/);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], proc, stop: () => stopProcess(proc) });
      }
    });
    proc.stderr.on('data', (d) => (err += d));
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}): ${out}${err}`));
    });
  });
}

function stopProcess(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null) return resolve(proc.exitCode);
    proc.removeAllListeners('exit');
    proc.on('exit', (code) => resolve(code));
    proc.kill('SIGTERM');
  });
}

// Collects what a page does wrong: console errors, uncaught exceptions, failed requests, and
// requests that leave `allowed` (an origin, or the schemes of a file:// page).
export function watch(page, allowed) {
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('request', (r) => {
    const url = r.url();
    if (!allowed(url)) problems.push(`outside request: ${url}`);
  });
  return problems;
}

let shotDir = null;
export function screenshots(test) {
  shotDir = path.join(process.env.BERTSCOPE_SCREENSHOTS ?? path.join(os.tmpdir(), 'bertscope-screenshots'), test);
  rmSync(shotDir, { recursive: true, force: true });
  mkdirSync(shotDir, { recursive: true });
  console.log(`screenshots: ${shotDir}`);
}
export async function shot(page, name) {
  const file = path.join(shotDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`  screenshot ${file}`);
}

// Clicks `button` and returns the downloaded file's name and bytes.
export async function download(page, button) {
  const [dl] = await Promise.all([page.waitForEvent('download'), button.click()]);
  const file = await dl.path();
  return { name: dl.suggestedFilename(), bytes: readFileSync(file) };
}

export function pngSize(bytes) {
  assert.ok(bytes.length > 100, 'PNG is empty');
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'not a PNG');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

// Parses an SVG in the browser (the XML parser reports any error) and counts elements per
// selector. It runs in a blank page of its own: the viewer's page forbids inline styles by its
// CSP, and a parsed SVG's style attributes would be reported there as violations.
const parserPages = new WeakMap();
export async function svgCounts(page, text, selectors) {
  let blank = parserPages.get(page.context());
  if (!blank) {
    blank = await page.context().newPage();
    parserPages.set(page.context(), blank);
  }
  return blank.evaluate(
    ({ text, selectors }) => {
      const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
      const err = doc.querySelector('parsererror');
      if (err) return { error: err.textContent };
      if (doc.documentElement.nodeName !== 'svg') return { error: `root is ${doc.documentElement.nodeName}` };
      const counts = {};
      for (const s of selectors) counts[s] = doc.querySelectorAll(s).length;
      return { counts, width: doc.documentElement.getAttribute('width') };
    },
    { text, selectors },
  );
}

// Decodes a float16 value (the API's packed attention).
export function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

export function attentionOf(doc) {
  const bytes = Buffer.from(doc.attention.data, 'base64');
  const n = doc.attention.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (doc.attention.dtype === 'float16') for (let i = 0; i < n; i++) out[i] = halfToFloat(bytes.readUInt16LE(2 * i));
  else for (let i = 0; i < n; i++) out[i] = bytes.readFloatLE(4 * i);
  return out;
}

// The links the line view draws for a layer: weights >= threshold of the chosen heads between
// the query and key positions that pass `keepQ`/`keepK` (token level).
export function expectedLinks(doc, values, { layer, heads, threshold = 0.01, keepQ = () => true, keepK = () => true }) {
  const T = doc.length;
  let n = 0;
  for (const h of heads) {
    const base = (layer * doc.heads + h) * T * T;
    for (let i = 0; i < T; i++) {
      if (!keepQ(i)) continue;
      for (let j = 0; j < T; j++) {
        if (!keepK(j)) continue;
        const w = values[base + i * T + j];
        if (w >= threshold && w > 0) n++;
      }
    }
  }
  return n;
}

// Words as the viewer merges them: consecutive tokens with the same (segment, word id).
export function wordCount(doc) {
  let n = 0;
  let prev = '';
  doc.tokens.forEach((_, i) => {
    const seq = doc.sequence_ids[i];
    const w = doc.word_ids[i];
    const key = seq >= 0 && w >= 0 ? `${seq}:${w}` : '';
    if (!key || key !== prev) n++;
    prev = key;
  });
  return n;
}

// Canvas pixels: how many of the grid's cells hold a drawn (non-white) thumbnail.
export async function paintedGridCells(page, canvasSelector) {
  return page.evaluate((sel) => {
    const c = document.querySelector(sel);
    const d = c.dataset;
    const layers = +d.layers;
    const heads = +d.heads;
    const cell = +d.cell;
    const gap = +d.gap;
    const scale = c.width / parseFloat(c.style.width);
    const ctx = c.getContext('2d');
    let painted = 0;
    for (let l = 0; l < layers; l++) {
      for (let h = 0; h < heads; h++) {
        const x = Math.floor((+d.left + h * (cell + gap)) * scale);
        const y = Math.floor((+d.top + l * (cell + gap)) * scale);
        const px = ctx.getImageData(x, y, Math.floor(cell * scale), Math.floor(cell * scale)).data;
        let colored = 0;
        for (let k = 0; k < px.length; k += 4) if (px[k] < 235 || px[k + 1] < 235 || px[k + 2] < 235) colored++;
        if (colored > 0) painted++;
      }
    }
    return painted;
  }, canvasSelector);
}

// Result documents of every shape in docs/viewer.md for a model of L layers and H heads,
// with the number of marks each view must draw.
export function resultFixtures(L, H) {
  const heads = [];
  const behaviours = ['broad', 'next', 'cls', 'sep'];
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      heads.push({
        layer: l,
        head: h,
        label: `${l + 1}-${h + 1}`,
        cls: ((l * H + h) % 5) / 5,
        sep: ((l + h) % 3) / 3,
        entropy: 1 + l * 0.3 - h * 0.1,
        behaviour: behaviours[(l * H + h) % behaviours.length],
      });
    }
  }
  const matrix = (f) => Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => f(l, h)));
  const tokens = ['[CLS]', 'the', 'keys', 'to', 'the', 'cabinet', 'are', 'here', '.', '[SEP]'];
  const T = tokens.length;
  const rollout = Array.from({ length: L }, (_, l) =>
    Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => (i === j ? 0.5 : 0.5 / (T - 1)) + l * 0)),
  );
  const paths = [
    { score: 0.8, nodes: [{ layer: 0, position: 2 }, ...Array.from({ length: L }, (_, l) => ({ layer: l + 1, position: 2, via: 'skip' }))] },
    {
      score: -0.3,
      nodes: [
        { layer: 0, position: 5 },
        { layer: 1, position: 5, via: 'skip' },
        { layer: Math.min(2, L), position: 9, via: 'head', head: 1 },
      ],
    },
  ];
  const surfaceHeads = heads.map(({ layer, head, label, cls, sep, entropy, behaviour }) => ({ layer, head, label, cls, sep, entropy, behaviour }));
  return [
    {
      name: 'surface.json',
      doc: { method: 'surface', model: { layers: L, heads: H }, data: { sentences: 10 }, params: {}, results: { heads: surfaceHeads } },
      marks: [
        { view: 'heatmap:results.heads', selector: 'rect.cell', count: L * H },
        { view: 'bars:results.heads', selector: 'rect.bar', count: new Set(heads.map((h) => h.behaviour)).size },
        { view: 'table:results.heads', rows: L * H },
      ],
    },
    {
      name: 'cluster.json',
      doc: {
        method: 'cluster',
        model: { layers: L, heads: H },
        results: {
          heads: heads.map(({ layer, head, label, behaviour }) => ({ layer, head, label, behaviour })),
          coordinates: heads.map((h, i) => [Math.cos(i), Math.sin(i) * (1 + h.layer)]),
        },
      },
      marks: [
        { view: 'scatter:results.coordinates', selector: 'circle.point', count: L * H },
        { view: 'bars:results.heads', selector: 'rect.bar', count: new Set(heads.map((h) => h.behaviour)).size },
      ],
    },
    {
      name: 'patterns.json',
      doc: {
        method: 'patterns',
        model: { layers: L, heads: H },
        results: { classes: { vertical: 0.3, diagonal: 0.2, 'vertical+diagonal': 0.1, block: 0.25, heterogeneous: 0.15 } },
      },
      marks: [{ view: 'bars:results.classes', selector: 'rect.bar', count: 5 }],
    },
    {
      name: 'syntax.json',
      doc: {
        method: 'syntax',
        model: { layers: L, heads: H },
        results: {
          relations: {
            nsubj: { accuracy: 0.58, head: { layer: 7, head: 1, label: '8-2' }, direction: 'dep->head', baseline: 0.45, offset: 1 },
            dobj: { accuracy: 0.86, head: { layer: 7, head: 9, label: '8-10' }, direction: 'head->dep', baseline: 0.4, offset: -2 },
            amod: { accuracy: 0.79, head: { layer: 3, head: 9, label: '4-10' }, direction: 'dep->head', baseline: 0.79, offset: 1 },
          },
          accuracy: matrix((l, h) => (l * H + h) / (L * H)),
        },
      },
      marks: [
        { view: 'table:results.relations', rows: 3 },
        { view: 'heatmap:results.accuracy', selector: 'rect.cell', count: L * H },
      ],
    },
    {
      name: 'importance.json',
      doc: {
        method: 'importance',
        model: { layers: L, heads: H },
        results: { importance: matrix((l, h) => l - h), per_layer: { mean: Array.from({ length: L }, (_, l) => l / L), max: Array.from({ length: L }, (_, l) => 1 - l / L) } },
      },
      marks: [
        { view: 'heatmap:results.importance', selector: 'rect.cell', count: L * H },
        { view: 'lines:results.per_layer', selector: 'path.series-line', count: 2 },
      ],
    },
    {
      name: 'saliency.json',
      doc: {
        method: 'saliency',
        model: { layers: L, heads: H },
        results: {
          examples: [
            { tokens, saliency: tokens.map((_, i) => Math.sin(i)), rollout: tokens.map((_, i) => i / T) },
            { tokens: tokens.slice(0, 6), saliency: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], rollout: [0, 0, 1, 0, 0, 0] },
          ],
        },
      },
      marks: [{ view: 'tokens:results.examples', selector: 'rect.token', count: T }],
    },
    {
      name: 'rollout.json',
      doc: { method: 'rollout', model: { layers: L, heads: H }, results: { tokens, rollout } },
      marks: [{ view: 'matrix:results.rollout', selector: 'rect.cell', count: T * T }],
    },
    {
      // A family of look-alike members (Kovaleva's features): one chart per shape, `key` picks the feature.
      name: 'features.json',
      doc: {
        method: 'features',
        model: { layers: L, heads: H },
        results: {
          features: Object.fromEntries(
            ['noun', 'verb', 'subj'].map((f, k) => [
              f,
              {
                selector: f,
                received: matrix((l, h) => (l + h + k) / (L + H)),
                from_cls: matrix((l, h) => (l * h + k) / (L * H)),
                top: heads.slice(0, 3 + k).map(({ layer, head, label }) => ({ layer, head, label, score: layer + head })),
              },
            ]),
          ),
        },
      },
      marks: [
        { view: 'heatmap:results.features.*', selector: 'rect.cell', count: L * H },
        { view: 'table:results.features.*.top', rows: 3 },
      ],
    },
    {
      // Training dynamics (bertscope track): statistics against step, each target dashed.
      name: 'track.json',
      doc: {
        method: 'track',
        model: { layers: L, heads: H },
        results: {
          steps: [500, 1000, 1500],
          figure: {
            steps: [500, 1000, 1500],
            curves: { 'positional: best head': [0.2, 0.45, 0.7], 'agreement: simple_agrmt': [0.5, null, 0.9] },
            targets: { 'positional: best head': 0.5, 'agreement: simple_agrmt': 0.8 },
          },
        },
      },
      marks: [
        { view: 'lines:results.figure', selector: 'path.series-line', count: 2 },
        { view: 'lines:results.figure', selector: 'line.target-line', count: 2 },
        { view: 'lines:results.figure', selector: 'circle.point', count: 5 },
      ],
    },
    {
      name: 'influence.json',
      doc: { method: 'influence', model: { layers: L, heads: H }, results: { tokens, paths } },
      marks: [
        { view: 'paths:results', selector: 'g.influence-path', count: 2 },
        { view: 'paths:results', selector: 'circle.node', count: paths[0].nodes.length + paths[1].nodes.length },
      ],
    },
  ];
}

export function writeFixtures(dir, L, H) {
  mkdirSync(dir, { recursive: true });
  const fixtures = resultFixtures(L, H);
  for (const f of fixtures) writeFileSync(path.join(dir, f.name), JSON.stringify(f.doc));
  return fixtures;
}

// Checks every chart of the result document on screen: each expected view is drawn, exports a
// valid SVG with the right number of marks, and a non-empty PNG.
export async function checkResultDocument(page, fixture) {
  const article = page.locator(`article.result-document[data-name="${fixture.name}"]`);
  await article.waitFor();
  for (const m of fixture.marks) {
    const chart = article.locator(`section.chart[data-view="${m.view}"]`);
    assert.equal(await chart.count(), 1, `${fixture.name}: no chart ${m.view}`);
    if (m.rows !== undefined) {
      assert.equal(await chart.locator('table.data-table tbody tr').count(), m.rows, `${fixture.name} ${m.view}: rows`);
    }
    const svg = await download(page, chart.locator('button.export-svg'));
    assert.ok(svg.name.endsWith('.svg'), svg.name);
    const sel = m.selector ?? 'rect.table-row';
    const parsed = await svgCounts(page, svg.bytes.toString('utf8'), [sel]);
    assert.equal(parsed.error, undefined, `${fixture.name} ${m.view}: invalid SVG: ${parsed.error}`);
    assert.equal(parsed.counts[sel], m.count ?? m.rows, `${fixture.name} ${m.view}: ${sel} in the SVG`);
    const png = await download(page, chart.locator('button.export-png'));
    const size = pngSize(png.bytes);
    assert.ok(size.width > 50 && size.height > 50, `${fixture.name} ${m.view}: PNG ${size.width}x${size.height}`);
  }
}

export function cleanup(dir) {
  if (dir && existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}

export { assert };

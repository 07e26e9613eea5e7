// The served app in headless Chromium: the page opens with no console errors; a typed pair
// runs; the grid shows layers x heads drawn cells; clicking a head opens its heatmap; the
// heatmap zooms; the line view reacts to hover, pins on click, filters by sentence and special
// tokens, switches heads from its legend (12 distinguishable colours), shows a line's weight on
// hover and counts the weights under its length-aware minimum; the views share the layer; the
// neuron view's softmax of q·k/sqrt(d) is the attention row; MLM predictions at [MASK]; word
// pieces merge; SVG exports are valid with one mark per datum; PNG exports are images; every
// result file shape is drawn and exported; an over-long input is refused in the main pane and
// runs truncated from there, and a 300-token line view stays within the screen. A second server
// compares two models (class probabilities of a classifier, B - A centred on 0), and models that
// cannot be compared are refused with one message.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  assert,
  attentionOf,
  checkResultDocument,
  cleanup,
  download,
  cli,
  expectedLinks,
  halfToFloat,
  launchBrowser,
  makeModel,
  paintedGridCells,
  pngSize,
  run,
  screenshots,
  shot,
  startServe,
  svgCounts,
  tempDir,
  testData,
  watch,
  wordCount,
  writeFixtures,
} from './harness.mjs';

const L = 3;
// 12 heads, as bert-base: the line view must give each its own colour.
const H = 12;
const TEXT = 'The keys to the cabinet are on the table.';
const PAIR = 'Where did you misplace them yesterday?';
const ALL_HEADS = Array.from({ length: H }, (_, h) => h);

// A packed array of the API (float16 or float32, base64) as numbers.
function packedOf(a) {
  const bytes = Buffer.from(a.data, 'base64');
  const n = a.shape.reduce((x, y) => x * y, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = a.dtype === 'float16' ? halfToFloat(bytes.readUInt16LE(2 * i)) : bytes.readFloatLE(4 * i);
  return out;
}

// sRGB hex -> CIELAB (D65), for the distance between head colours.
function lab(hex) {
  const lin = (c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
  const [r, g, b] = [1, 3, 5].map((i) => lin(parseInt(hex.slice(i, i + 2), 16) / 255));
  const f = (t) => (t > 216 / 24389 ? Math.cbrt(t) : (24389 / 27 * t + 16) / 116);
  const x = f((0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047);
  const y = f(0.2126 * r + 0.7152 * g + 0.0722 * b);
  const z = f((0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883);
  return [116 * y - 16, 500 * (x - y), 200 * (y - z)];
}

// The viewer's number format for weights (d3 ".3~f").
const weightText = (w) => String(Number(w.toFixed(3)));

const dir = tempDir('serve');
let server = null;
let browser = null;
try {
  screenshots('serve');
  const model = makeModel(path.join(dir, 'model'), { layers: L, hidden: 96, heads: H, intermediate: 96, seed: 4 });
  const results = path.join(dir, 'results');
  const fixtures = writeFixtures(results, L, H);
  run(['run', '--model', model, '--text', 'A trace file.', '--out', path.join(results, 'trace.npz')]);
  browser = await launchBrowser();
  server = await startServe(['--model', model, '--results', results]);
  const origin = new URL(server.url).origin;
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const problems = watch(page, (url) => url.startsWith(origin) || url.startsWith('blob:') || url.startsWith('data:'));

  await page.goto(server.url);
  await page.waitForSelector('body[data-ready="true"]');
  assert.match(await page.locator('header.top .sub').innerText(), new RegExp(`${L} layers x ${H} heads`));
  await shot(page, '01-start');

  // Run a pair.
  await page.fill('textarea[name="text"]', TEXT);
  await page.fill('textarea[name="text_pair"]', PAIR);
  await page.click('button.run');
  const grid = page.locator('section.chart[data-view="grid"] canvas');
  await grid.waitFor();
  const api = await (await page.request.post(`${server.url}api/run`, { data: { text: TEXT, text_pair: PAIR, vectors: true } })).json();
  const values = attentionOf(api);
  const T = api.length;

  // The grid: layers x heads cells, each drawn.
  assert.equal(await grid.getAttribute('data-layers'), String(L));
  assert.equal(await grid.getAttribute('data-heads'), String(H));
  assert.equal(await grid.getAttribute('data-cells'), String(L * H));
  assert.equal(await paintedGridCells(page, 'section.chart[data-view="grid"] canvas'), L * H, 'every grid cell is drawn');
  const gridSvg = await download(page, page.locator('section.chart[data-view="grid"] button.export-svg'));
  const gridCounts = await svgCounts(page, gridSvg.bytes.toString('utf8'), ['image.thumb']);
  assert.equal(gridCounts.error, undefined, gridCounts.error);
  assert.equal(gridCounts.counts['image.thumb'], L * H);
  await shot(page, '02-grid');

  // Click head (2, 1): its heatmap opens.
  const g = await grid.evaluate((c) => ({ ...c.dataset }));
  const box = await grid.boundingBox();
  await page.mouse.click(box.x + +g.left + 1 * (+g.cell + +g.gap) + +g.cell / 2, box.y + +g.top + 2 * (+g.cell + +g.gap) + +g.cell / 2);
  const heat = page.locator('section.chart[data-view="heatmap"]');
  await heat.waitFor({ state: 'visible' });
  assert.equal(await grid.isVisible(), false, 'the grid tab is left');
  const heatCanvas = heat.locator('canvas');
  assert.equal(await heatCanvas.getAttribute('data-layer'), '2');
  assert.equal(await heatCanvas.getAttribute('data-head'), '1');
  assert.equal(await heatCanvas.getAttribute('data-span'), String(T));
  await shot(page, '03-heatmap');

  // Heatmap export: one rect per cell of the T x T map, and a PNG at twice the size.
  const heatSvg = await download(page, heat.locator('button.export-svg'));
  const heatCounts = await svgCounts(page, heatSvg.bytes.toString('utf8'), ['rect.cell', 'g.heatmap']);
  assert.equal(heatCounts.error, undefined, heatCounts.error);
  assert.equal(heatCounts.counts['rect.cell'], T * T);
  const heatPng = await download(page, heat.locator('button.export-png'));
  const size = pngSize(heatPng.bytes);
  assert.equal(size.width, 2 * Math.ceil(parseFloat(await heatCanvas.evaluate((c) => c.style.width))));
  assert.ok(heatPng.bytes.length > 5000, `PNG of ${heatPng.bytes.length} bytes`);

  // Zoom with the wheel over the map, reset with a double click.
  const hb = await heatCanvas.boundingBox();
  const hd = await heatCanvas.evaluate((c) => ({ ...c.dataset }));
  await page.mouse.move(hb.x + +hd.left + 100, hb.y + +hd.top + 100);
  await page.mouse.wheel(0, -300);
  await page.waitForFunction((t) => +document.querySelector('section.chart[data-view="heatmap"] canvas').dataset.span < t, T);
  await shot(page, '04-heatmap-zoomed');
  await page.mouse.dblclick(hb.x + +hd.left + 100, hb.y + +hd.top + 100);
  await page.waitForFunction((t) => +document.querySelector('section.chart[data-view="heatmap"] canvas').dataset.span === t, T);

  // The line view: all links of layer 0, then only a hovered token's.
  await page.click('nav.tabs button[data-tab="lines"]');
  const lines = page.locator('section.chart[data-view="lines"] canvas');
  await lines.waitFor({ state: 'visible' });
  // It shows the layer of the head opened from the grid; back to layer 0.
  assert.equal(await page.inputValue('section.chart[data-view="lines"] select[name="layer"]'), '2');
  await page.selectOption('section.chart[data-view="lines"] select[name="layer"]', '0');
  const all = expectedLinks(api, values, { layer: 0, heads: ALL_HEADS });
  assert.equal(await lines.getAttribute('data-links'), String(all));
  // Pointer events repaint on the next frame: wait for the canvas to say what it shows.
  const linesData = (key, value) =>
    page.waitForFunction(
      ({ key, value }) => document.querySelector('section.chart[data-view="lines"] canvas').dataset[key] === value,
      { key, value },
    );
  const ld = await lines.evaluate((c) => ({ ...c.dataset }));
  const lb = await lines.boundingBox();
  const rowY = (r) => lb.y + +ld.top + (r + 0.5) * +ld.row;
  const leftX = lb.x + +ld.margin + +ld.labelWidth - 10;
  await page.mouse.move(leftX, rowY(3));
  await linesData('focus', '3');
  const focused = expectedLinks(api, values, { layer: 0, heads: ALL_HEADS, keepQ: (i) => i === 3 });
  assert.equal(await lines.getAttribute('data-links'), String(focused));
  assert.ok(focused < all);
  await shot(page, '05-lines-hover');
  // Hovering a key (right column) shows the attention it receives.
  const rightX = lb.x + +ld.margin + +ld.labelWidth + +ld.gap + 10;
  await page.mouse.move(rightX, rowY(5));
  await linesData('side', 'key');
  assert.equal(await lines.getAttribute('data-links'), String(expectedLinks(api, values, { layer: 0, heads: ALL_HEADS, keepK: (j) => j === 5 })));
  // Leaving restores every link; a click pins the token so leaving keeps it.
  await page.mouse.move(lb.x + lb.width / 2, lb.y + 5);
  await linesData('focus', '-1');
  assert.equal(await lines.getAttribute('data-links'), String(all));
  await page.mouse.click(leftX, rowY(3));
  await page.mouse.move(lb.x + lb.width / 2, lb.y + 5);
  await linesData('pinned', 'true');
  assert.equal(await lines.getAttribute('data-focus'), '3');
  const pinnedSvg = await download(page, page.locator('section.chart[data-view="lines"] button.export-svg'));
  const pinnedCounts = await svgCounts(page, pinnedSvg.bytes.toString('utf8'), ['line.link', 'text.token']);
  assert.equal(pinnedCounts.error, undefined, pinnedCounts.error);
  assert.equal(pinnedCounts.counts['line.link'], focused, 'one SVG line per drawn link');
  assert.equal(pinnedCounts.counts['text.token'], 2 * T);
  await page.mouse.click(leftX, rowY(3));
  await linesData('pinned', 'false');
  // Unpinned, the token under the pointer is only hovered: leaving it shows everything again.
  await page.mouse.move(lb.x + lb.width / 2, lb.y + 5);
  await linesData('focus', '-1');

  // Sentence A -> B, then [CLS]/[SEP] hidden.
  const seg = api.sequence_ids;
  await page.selectOption('section.chart[data-view="lines"] select[name="segments"]', 'a-b');
  assert.equal(
    await lines.getAttribute('data-links'),
    String(expectedLinks(api, values, { layer: 0, heads: ALL_HEADS, keepQ: (i) => seg[i] === 0, keepK: (j) => seg[j] === 1 })),
  );
  await page.selectOption('section.chart[data-view="lines"] select[name="segments"]', 'all');
  await page.check('section.chart[data-view="lines"] input[name="hide-special"]');
  assert.equal(
    await lines.getAttribute('data-links'),
    String(expectedLinks(api, values, { layer: 0, heads: ALL_HEADS, keepQ: (i) => seg[i] >= 0, keepK: (j) => seg[j] >= 0 })),
  );
  await page.fill('section.chart[data-view="lines"] input[name="heads"]', '1,3');
  await page.press('section.chart[data-view="lines"] input[name="heads"]', 'Enter');
  assert.equal(
    await lines.getAttribute('data-links'),
    String(expectedLinks(api, values, { layer: 0, heads: [1, 3], keepQ: (i) => seg[i] >= 0, keepK: (j) => seg[j] >= 0 })),
  );
  await shot(page, '06-lines-filtered');

  // Back to every token and head: the weights under the minimum are counted, not drawn.
  await page.uncheck('section.chart[data-view="lines"] input[name="hide-special"]');
  await page.fill('section.chart[data-view="lines"] input[name="heads"]', 'all');
  await page.press('section.chart[data-view="lines"] input[name="heads"]', 'Enter');
  assert.equal(await lines.getAttribute('data-threshold'), '0.01', 'short inputs keep the 0.01 minimum');
  assert.equal(await lines.getAttribute('data-links'), String(all));
  assert.equal(await lines.getAttribute('data-hidden'), String(H * T * T - all), 'every weight under the minimum is counted');

  // 12 heads, 12 colours, each pair far apart in CIELAB (CIE76 distance of 20 or more).
  const colours = (await lines.getAttribute('data-head-colors')).split(' ');
  assert.equal(new Set(colours).size, H, `head colours: ${colours}`);
  for (let a = 0; a < H; a++) {
    for (let b = a + 1; b < H; b++) {
      const d = Math.hypot(...lab(colours[a]).map((v, k) => v - lab(colours[b])[k]));
      assert.ok(d >= 20, `heads ${a} and ${b}: ${colours[a]} and ${colours[b]} are only ${d.toFixed(1)} apart`);
    }
  }

  // The legend switches heads: click hides head 2, double-click shows head 5 alone.
  const legendAt = async (h) => {
    const d = await lines.evaluate((c) => ({ ...c.dataset }));
    const [x, y, w] = d.legend.split(' ')[h].split(',').map(Number);
    const b = await lines.boundingBox();
    return { x: b.x + x + Math.min(w / 2, 20), y: b.y + y + +d.legendRow / 2 };
  };
  let at = await legendAt(2);
  await page.mouse.click(at.x, at.y);
  const without2 = ALL_HEADS.filter((h) => h !== 2);
  await linesData('heads', without2.join(','));
  assert.equal(await lines.getAttribute('data-links'), String(expectedLinks(api, values, { layer: 0, heads: without2 })));
  assert.equal(await page.inputValue('section.chart[data-view="lines"] input[name="heads"]'), without2.join(','), 'the heads control follows the legend');
  at = await legendAt(5);
  await page.mouse.dblclick(at.x, at.y);
  await linesData('heads', '5');
  assert.equal(await lines.getAttribute('data-links'), String(expectedLinks(api, values, { layer: 0, heads: [5] })));
  await shot(page, '06b-lines-one-head');

  // Hovering a line shows its weight: the strongest link of head 5, at a place along it where
  // no other line of the head (of weight 0.2 or more, for fewer lines) passes within 8 px.
  await page.fill('section.chart[data-view="lines"] input[name="threshold"]', '0.2');
  await page.press('section.chart[data-view="lines"] input[name="threshold"]', 'Enter');
  const head5 = [];
  for (let i = 0; i < T; i++) {
    for (let j = 0; j < T; j++) {
      const w = values[(0 * H + 5) * T * T + i * T + j];
      if (w >= 0.2) head5.push({ w, i, j });
    }
  }
  const best = head5.reduce((a, b) => (b.w > a.w ? b : a));
  {
    const d = await lines.evaluate((c) => ({ ...c.dataset }));
    const b = await lines.boundingBox();
    const x1 = +d.margin + +d.labelWidth + 4;
    const x2 = +d.margin + +d.labelWidth + +d.gap - 4;
    const yAt = (l, t) => +d.top + (l.i + 0.5 + t * (l.j - l.i)) * +d.row;
    const t = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9].find((t) =>
      head5.every((l) => l === best || Math.abs(yAt(l, t) - yAt(best, t)) > 8),
    );
    assert.ok(t !== undefined, 'a place on the strongest line away from the others');
    await page.mouse.move(b.x + x1 + t * (x2 - x1), b.y + yAt(best, t));
    await linesData('hovered', `5:${best.i}:${best.j}`);
    const tip = page.locator('section.chart[data-view="lines"] .tooltip');
    assert.match(await tip.innerText(), new RegExp(`: ${weightText(best.w).replace('.', '\\.')}$`), 'the tooltip gives the weight');
    await shot(page, '06c-lines-hover-link');
  }
  at = await legendAt(5);
  await page.mouse.dblclick(at.x, at.y);
  await linesData('heads', 'all');
  await page.fill('section.chart[data-view="lines"] input[name="threshold"]', '0.01');
  await page.press('section.chart[data-view="lines"] input[name="threshold"]', 'Enter');

  // One layer in every view: chosen in the line view, the heatmap, the grid and the neuron
  // view follow; a head chosen in the heatmap is the neuron view's too.
  await page.selectOption('section.chart[data-view="lines"] select[name="layer"]', '2');
  await page.click('nav.tabs button[data-tab="grid"]');
  assert.equal(JSON.parse(await page.locator('section.chart[data-view="grid"]').getAttribute('data-state')).layer, '2', 'the grid outlines layer 2');
  await page.click('nav.tabs button[data-tab="heatmap"]');
  assert.equal(await heatCanvas.getAttribute('data-layer'), '2');
  await page.selectOption('section.chart[data-view="heatmap"] select[name="head"]', '3');
  await page.click('nav.tabs button[data-tab="neuron"]');
  const neuron = page.locator('section.chart[data-view="neuron"] canvas');
  await neuron.waitFor({ state: 'visible' });
  assert.equal(await neuron.getAttribute('data-layer'), '2');
  assert.equal(await neuron.getAttribute('data-head'), '3');

  // The neuron view: softmax(q·k/sqrt(d)) of the API's own vectors is the attention row, and the
  // view draws exactly that.
  await page.click('nav.tabs button[data-tab="neuron"]');
  const nd = await neuron.evaluate((c) => ({ ...c.dataset }));
  const query = +nd.query;
  assert.equal(query, 1, 'the first word is the initial query');
  assert.ok(+nd.softmaxMaxDiff < 2e-3, `softmax differs from the attention by ${nd.softmaxMaxDiff}`);
  const dim = api.head_dim;
  assert.equal(+nd.dim, dim);
  assert.deepEqual(api.query.shape, [L, H, T, dim]);
  const qv = packedOf(api.query);
  const kv = packedOf(api.key);
  const base = (2 * H + 3) * T * dim;
  const scores = Array.from({ length: T }, (_, j) => {
    let s = 0;
    for (let c = 0; c < dim; c++) s += qv[base + query * dim + c] * kv[base + j * dim + c];
    return s / Math.sqrt(dim);
  });
  const top = Math.max(...scores);
  const sum = scores.reduce((a, s) => a + Math.exp(s - top), 0);
  const softmax = scores.map((s) => Math.exp(s - top) / sum);
  const row = Array.from({ length: T }, (_, j) => values[(2 * H + 3) * T * T + query * T + j]);
  softmax.forEach((p, j) => assert.ok(Math.abs(p - row[j]) < 2e-3, `key ${j}: softmax ${p} vs attention ${row[j]}`));
  const neuronSvg = (await download(page, page.locator('section.chart[data-view="neuron"] button.export-svg'))).bytes.toString('utf8');
  const drawn = [...neuronSvg.matchAll(/<rect[^>]*class="softmax"[^>]*>/g)].map((m) => ({
    key: +m[0].match(/data-key="(\d+)"/)[1],
    softmax: +m[0].match(/data-softmax="([^"]+)"/)[1],
    attention: +m[0].match(/data-attention="([^"]+)"/)[1],
  }));
  assert.equal(drawn.length, T, 'one softmax bar per key');
  for (const b of drawn) {
    assert.ok(Math.abs(b.softmax - softmax[b.key]) < 1e-3, `key ${b.key}: drawn softmax ${b.softmax}, expected ${softmax[b.key]}`);
    assert.ok(Math.abs(b.attention - row[b.key]) < 1e-4, `key ${b.key}: drawn attention ${b.attention}, API ${row[b.key]}`);
  }
  const neuronCounts = await svgCounts(page, neuronSvg, ['g.key-vectors rect.cell', 'g.products rect.cell', 'rect.score']);
  assert.equal(neuronCounts.error, undefined, neuronCounts.error);
  assert.equal(neuronCounts.counts['g.key-vectors rect.cell'], T * dim);
  assert.equal(neuronCounts.counts['g.products rect.cell'], T * dim);
  assert.equal(neuronCounts.counts['rect.score'], T);
  const nb = await neuron.boundingBox();
  await page.mouse.click(nb.x + +nd.margin + +nd.labelWidth - 6, nb.y + +nd.top + 4.5 * +nd.row);
  await page.waitForFunction(() => document.querySelector('section.chart[data-view="neuron"] canvas').dataset.query === '4');
  await shot(page, '06d-neuron');
  await page.click('nav.tabs button[data-tab="lines"]');
  await page.selectOption('section.chart[data-view="lines"] select[name="layer"]', '0');

  // Word-level merging: the heatmap's axes become words.
  await page.check('input[name="word-level-all"]');
  await page.click('nav.tabs button[data-tab="heatmap"]');
  assert.equal(await heatCanvas.getAttribute('data-span'), String(wordCount(api)));
  assert.ok(wordCount(api) < T, 'the text has split words');
  await shot(page, '07-heatmap-words');

  // Every result file.
  for (const f of fixtures) {
    await page.click(`div.result-list button[data-name="${f.name}"]`);
    await checkResultDocument(page, f);
    await shot(page, `08-result-${f.name.replace('.json', '')}`);
  }
  // A group chart switches members with `key` (and keeps the chosen field).
  await page.click('div.result-list button[data-name="features.json"]');
  const group = page.locator('section.chart[data-view="heatmap:results.features.*"]');
  await group.locator('select[name="field"]').selectOption('from_cls');
  await group.locator('select[name="key"]').selectOption('verb');
  const state = JSON.parse(await group.getAttribute('data-state'));
  assert.equal(state.key, 'verb');
  assert.equal(state.field, 'from_cls');
  const tableGroup = page.locator('section.chart[data-view="table:results.features.*.top"]');
  await tableGroup.locator('select[name="key"]').selectOption('subj');
  assert.equal(await tableGroup.locator('table.data-table tbody tr').count(), 5);

  // A trace file from the results folder opens as an attention document.
  await page.click('div.result-list button[data-name="trace.npz"]');
  await page.locator('article.attention-document[data-name="trace.npz"] section.chart[data-view="grid"] canvas').waitFor();

  assert.deepEqual(problems, []);

  // Predictions at [MASK]: the page lists the API's top tokens with their probabilities.
  const masked = 'The keys to the [MASK] are on the table.';
  const mlm = await (await page.request.post(`${server.url}api/run`, { data: { text: masked } })).json();
  assert.equal(mlm.outputs.head, 'masked_lm');
  assert.equal(mlm.outputs.masked.length, 1);
  const predictions = mlm.outputs.masked[0];
  assert.equal(mlm.tokens[predictions.position], '[MASK]');
  assert.equal(predictions.top.length, 5);
  for (let k = 1; k < 5; k++) assert.ok(predictions.top[k - 1].probability >= predictions.top[k].probability, 'sorted');
  await page.fill('textarea[name="text"]', masked);
  await page.fill('textarea[name="text_pair"]', '');
  await page.click('button.run');
  const shownPredictions = page.locator('section.model-outputs[data-head="masked_lm"] ol.predictions li');
  await shownPredictions.first().waitFor();
  assert.equal(await shownPredictions.count(), 5);
  assert.deepEqual(
    await shownPredictions.evaluateAll((lis) => lis.map((li) => li.dataset.token)),
    predictions.top.map((t) => t.token),
  );
  await shot(page, '09-mlm');

  assert.deepEqual(problems, []);

  // Over-long input: the message takes the main pane with a button that runs it truncated
  // (Chromium also logs the refused request). The 512 tokens that remain draw a line view that
  // fits the screen.
  const long = 'word '.repeat(600);
  await page.fill('textarea[name="text"]', long);
  await page.click('button.run');
  const pane = page.locator('main .error-pane');
  await pane.waitFor();
  assert.match(await pane.locator('.message').innerText(), /602 tokens.*at most 512/);
  await shot(page, '10-too-long');
  await pane.locator('button.truncate').click();
  await page.locator('p.notice.truncated').waitFor();
  assert.equal(await page.locator('p.input-summary .dims').innerText(), ' (512 tokens, 3 layers x 12 heads)');
  assert.match(await page.locator('p.notice.truncated').innerText(), /90 tokens were cut/);
  await page.click('nav.tabs button[data-tab="lines"]');
  await lines.waitFor({ state: 'visible' });
  const cut = await (await page.request.post(`${server.url}api/run`, { data: { text: long, truncate: true } })).json();
  assert.equal(cut.truncated, 90);
  assert.equal(await lines.getAttribute('data-threshold'), '0.1', 'a 512-token input draws weights of 0.1 and more');
  assert.equal(await lines.getAttribute('data-links'), String(expectedLinks(cut, attentionOf(cut), { layer: 0, heads: ALL_HEADS, threshold: 0.1 })));
  const cssHeight = parseFloat(await lines.evaluate((c) => c.style.height));
  assert.ok(cssHeight <= 1000, `the 512-token line view is ${cssHeight} px tall`);
  console.log(`  line view, 512 tokens: ${await page.locator('section.chart[data-view="lines"]').getAttribute('data-render-ms')} ms, ${cssHeight} px tall`);
  await shot(page, '11-lines-512');
  assert.ok(problems.every((p) => /status of 422/.test(p)), problems.join('\n'));
  await server.stop();
  server = null;

  // Two models: a classifier of the same vocabulary and shape beside the MLM model.
  const modelB = makeModel(path.join(dir, 'model-b'), { layers: L, hidden: 96, heads: H, intermediate: 96, seed: 9, labels: 3 });
  server = await startServe(['--model', model, '--model-b', modelB]);
  const page2 = await context.newPage();
  const problems2 = watch(page2, (url) => url.startsWith(new URL(server.url).origin) || url.startsWith('blob:'));
  await page2.goto(server.url);
  await page2.waitForSelector('body[data-ready="true"]');
  assert.match(await page2.locator('header.top .sub').innerText(), /^A: model: .*; B: model-b: /);
  await page2.fill('textarea[name="text"]', TEXT);
  await page2.click('button.run');
  await page2.locator('section.model-outputs[data-head="sequence_classification"]').waitFor();
  const runA = await (await page2.request.post(`${server.url}api/run`, { data: { text: TEXT } })).json();
  const runB = await (await page2.request.post(`${server.url}api/run`, { data: { text: TEXT, model: 'b' } })).json();
  assert.equal(runB.model.name, 'model-b');
  const classes = runB.outputs.classes;
  assert.deepEqual(classes.map((c) => c.label), ['LABEL_0', 'LABEL_1', 'LABEL_2']);
  assert.ok(Math.abs(classes.reduce((a, c) => a + c.probability, 0) - 1) < 1e-9, 'class probabilities sum to 1');
  assert.deepEqual(
    await page2.locator('section.model-outputs[data-head="sequence_classification"] li.class').evaluateAll((lis) => lis.map((li) => +li.dataset.probability)),
    classes.map((c) => c.probability),
  );
  // A, B and B - A for one head: the difference is B's weight minus A's, on a scale centred on 0.
  await page2.click('nav.tabs button[data-tab="diff-grid"]');
  const diffGrid = page2.locator('section.chart[data-view="diff-grid"] canvas');
  await diffGrid.waitFor({ state: 'visible' });
  const dg = await diffGrid.evaluate((c) => ({ ...c.dataset }));
  const dgb = await diffGrid.boundingBox();
  await page2.mouse.click(dgb.x + +dg.left + 4 * (+dg.cell + +dg.gap) + +dg.cell / 2, dgb.y + +dg.top + 1 * (+dg.cell + +dg.gap) + +dg.cell / 2);
  const compareChart = page2.locator('section.chart[data-view="compare"]');
  await compareChart.waitFor({ state: 'visible' });
  assert.equal(await compareChart.locator('canvas').getAttribute('data-layer'), '1');
  assert.equal(await compareChart.locator('canvas').getAttribute('data-head'), '4');
  const compareSvg = (await download(page2, compareChart.locator('button.export-svg'))).bytes.toString('utf8');
  const counts2 = await svgCounts(page2, compareSvg, ['g.heatmap-a rect.cell', 'g.heatmap-b rect.cell', 'g.heatmap-diff rect.cell', 'g.colorbar']);
  assert.equal(counts2.error, undefined, counts2.error);
  const T2 = runA.length;
  for (const g of ['heatmap-a', 'heatmap-b', 'heatmap-diff']) assert.equal(counts2.counts[`g.${g} rect.cell`], T2 * T2);
  const va = attentionOf(runA);
  const vb = attentionOf(runB);
  const diffCells = [...compareSvg.slice(compareSvg.indexOf('class="heatmap-diff"')).matchAll(/<rect[^>]*data-row="(\d+)" data-col="(\d+)" data-value="([^"]+)"/g)].slice(0, T2 * T2);
  assert.equal(diffCells.length, T2 * T2);
  for (const [, i, j, text] of diffCells) {
    const k = (1 * H + 4) * T2 * T2 + +i * T2 + +j;
    const v = +text.replace('\u2212', '-'); // the viewer writes a true minus sign
    assert.ok(Math.abs(v - (vb[k] - va[k])) < 2e-3, `B - A at (${i}, ${j}): drawn ${v}, expected ${vb[k] - va[k]}`);
  }
  const bars = [...compareSvg.matchAll(/<g class="colorbar" data-lo="([^"]+)" data-hi="([^"]+)"/g)];
  assert.equal(bars.length, 2);
  assert.equal(+bars[1][1], -bars[1][2], 'the difference scale is centred on 0');
  await shot(page2, '12-compare');
  // The model switch shows B's views; the layer chosen stays.
  await page2.selectOption('select[name="model-shown"]', 'b');
  await page2.click('nav.tabs button[data-tab="heatmap"]');
  const heatB = page2.locator('section.chart[data-view="heatmap"]:visible canvas');
  assert.equal(await heatB.getAttribute('data-layer'), '1');
  assert.equal(await page2.locator('section.chart[data-view="heatmap"]').count(), 2, 'one heatmap per model');
  await shot(page2, '13-model-b');
  assert.deepEqual(problems2, []);

  // Models that cannot be compared: one message, no server.
  const vocab = path.join(dir, 'vocab-small.txt');
  writeFileSync(vocab, readFileSync(path.join(testData, 'bert-base-uncased', 'vocab.txt'), 'utf8').split('\n').slice(0, 2000).join('\n') + '\n');
  const other = makeModel(path.join(dir, 'model-other'), { layers: L, hidden: 96, heads: H, intermediate: 96, vocab });
  const refused = spawnSync(cli, ['serve', '--port', '0', '--model', model, '--model-b', other], { encoding: 'utf8', timeout: 60000 });
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /cannot compare .* with .*: the same input must give the same tokens, but 30522 and 2000 tokens in the vocabulary/);
  console.log('browser_serve: all checks passed');
} finally {
  if (browser) await browser.close();
  if (server) await server.stop();
  cleanup(dir);
}

// The served app in headless Chromium: the page opens with no console errors; a typed pair
// runs; the grid shows layers x heads drawn cells; clicking a head opens its heatmap; the
// heatmap zooms; the line view reacts to hover, pins on click and filters by sentence and
// special tokens; word pieces merge; SVG exports are valid with one mark per datum; PNG exports
// are images; every result file shape is drawn and exported.
import path from 'node:path';
import {
  assert,
  attentionOf,
  checkResultDocument,
  cleanup,
  download,
  expectedLinks,
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
  watch,
  wordCount,
  writeFixtures,
} from './harness.mjs';

const L = 3;
const H = 4;
const TEXT = 'The keys to the cabinet are on the table.';
const PAIR = 'Where did you misplace them yesterday?';

const dir = tempDir('serve');
let server = null;
let browser = null;
try {
  screenshots('serve');
  const model = makeModel(path.join(dir, 'model'), { layers: L, hidden: 64, heads: H, intermediate: 96, seed: 4 });
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
  const api = await (await page.request.post(`${server.url}api/run`, { data: { text: TEXT, text_pair: PAIR } })).json();
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
  const all = expectedLinks(api, values, { layer: 0, heads: [0, 1, 2, 3] });
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
  const focused = expectedLinks(api, values, { layer: 0, heads: [0, 1, 2, 3], keepQ: (i) => i === 3 });
  assert.equal(await lines.getAttribute('data-links'), String(focused));
  assert.ok(focused < all);
  await shot(page, '05-lines-hover');
  // Hovering a key (right column) shows the attention it receives.
  const rightX = lb.x + +ld.margin + +ld.labelWidth + +ld.gap + 10;
  await page.mouse.move(rightX, rowY(5));
  await linesData('side', 'key');
  assert.equal(await lines.getAttribute('data-links'), String(expectedLinks(api, values, { layer: 0, heads: [0, 1, 2, 3], keepK: (j) => j === 5 })));
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
    String(expectedLinks(api, values, { layer: 0, heads: [0, 1, 2, 3], keepQ: (i) => seg[i] === 0, keepK: (j) => seg[j] === 1 })),
  );
  await page.selectOption('section.chart[data-view="lines"] select[name="segments"]', 'all');
  await page.check('section.chart[data-view="lines"] input[name="hide-special"]');
  assert.equal(
    await lines.getAttribute('data-links'),
    String(expectedLinks(api, values, { layer: 0, heads: [0, 1, 2, 3], keepQ: (i) => seg[i] >= 0, keepK: (j) => seg[j] >= 0 })),
  );
  await page.fill('section.chart[data-view="lines"] input[name="heads"]', '1,3');
  await page.press('section.chart[data-view="lines"] input[name="heads"]', 'Enter');
  assert.equal(
    await lines.getAttribute('data-links'),
    String(expectedLinks(api, values, { layer: 0, heads: [1, 3], keepQ: (i) => seg[i] >= 0, keepK: (j) => seg[j] >= 0 })),
  );
  await shot(page, '06-lines-filtered');

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

  // Over-long input: the server's message is shown (Chromium also logs the refused request).
  await page.fill('textarea[name="text"]', 'word '.repeat(600));
  await page.fill('textarea[name="text_pair"]', '');
  await page.click('button.run');
  await page.waitForSelector('p.status.error');
  assert.match(await page.locator('p.status').innerText(), /tokens/);
  await shot(page, '09-too-long');
  assert.ok(problems.every((p) => /status of 422/.test(p)), problems.join('\n'));
  console.log('browser_serve: all checks passed');
} finally {
  if (browser) await browser.close();
  if (server) await server.stop();
  cleanup(dir);
}

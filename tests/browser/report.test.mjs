// The self-contained report in headless Chromium from file://: it opens with no console errors
// and makes no request outside the page; every document is listed; every chart of every
// document exports a valid SVG (one mark per datum) and a PNG; the trace's grid, head click and
// line-view hover work offline too.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
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
  svgCounts,
  tempDir,
  watch,
  writeFixtures,
} from './harness.mjs';

const L = 2;
const H = 3;

const dir = tempDir('report');
let browser = null;
try {
  screenshots('report');
  const model = makeModel(path.join(dir, 'model'), { layers: L, hidden: 48, heads: H, intermediate: 64, seed: 9 });
  const results = path.join(dir, 'results');
  const fixtures = writeFixtures(results, L, H);
  run(['run', '--model', model, '--text', 'Birds fly south in winter.', '--text-pair', 'They return in spring.',
       '--out', path.join(results, 'trace.npz')]);
  const out = path.join(dir, 'report');
  console.log(run(['report', '--results', results, '--out', out]).trim());

  browser = await launchBrowser();
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const url = pathToFileURL(path.join(out, 'index.html')).href;
  // Only the page itself, and the blob: URLs of its own downloads.
  const problems = watch(page, (u) => u === url || u.startsWith('blob:') || u.startsWith('data:'));
  await page.goto(url);
  await page.waitForSelector('nav.doc-list button');

  const names = await page.locator('nav.doc-list button').evaluateAll((bs) => bs.map((b) => b.dataset.name));
  // The summary of findings first, then every document.
  assert.equal(names[0], '#summary');
  assert.deepEqual(names.slice(1).sort(), [...fixtures.map((f) => f.name), 'trace.npz'].sort());
  await shot(page, '01-open');

  for (const f of fixtures) {
    await page.click(`nav.doc-list button[data-name="${f.name}"]`);
    await checkResultDocument(page, f);
    // Every chart of the document, not only those the fixture names, exports both formats.
    const charts = page.locator(`article[data-name="${f.name}"] section.chart`);
    for (let i = 0; i < (await charts.count()); i++) {
      const chart = charts.nth(i);
      const svg = await download(page, chart.locator('button.export-svg'));
      const parsed = await svgCounts(page, svg.bytes.toString('utf8'), ['*']);
      assert.equal(parsed.error, undefined, `${f.name} chart ${i}: ${parsed.error}`);
      assert.ok(parsed.counts['*'] > 3, `${f.name} chart ${i}: empty SVG`);
      pngSize((await download(page, chart.locator('button.export-png'))).bytes);
    }
    await shot(page, `02-${f.name.replace('.json', '')}`);
  }

  // The trace: grid, a head's heatmap, the line view's hover.
  await page.click('nav.doc-list button[data-name="trace.npz"]');
  const gridSel = 'article[data-name="trace.npz"] section.chart[data-view="grid"] canvas';
  const grid = page.locator(gridSel);
  await grid.waitFor();
  assert.equal(await grid.getAttribute('data-cells'), String(L * H));
  assert.equal(await paintedGridCells(page, gridSel), L * H);
  await shot(page, '03-trace-grid');
  const g = await grid.evaluate((c) => ({ ...c.dataset }));
  const box = await grid.boundingBox();
  await page.mouse.click(box.x + +g.left + 2 * (+g.cell + +g.gap) + 10, box.y + +g.top + 1 * (+g.cell + +g.gap) + 10);
  const heat = page.locator('article[data-name="trace.npz"] section.chart[data-view="heatmap"] canvas');
  await heat.waitFor({ state: 'visible' });
  assert.equal(await heat.getAttribute('data-layer'), '1');
  assert.equal(await heat.getAttribute('data-head'), '2');
  await shot(page, '04-trace-heatmap');
  // The layer chosen in one view is the others' too.
  const heatLayer = 'article[data-name="trace.npz"] section.chart[data-view="heatmap"] select[name="layer"]';
  await page.selectOption(heatLayer, '1');
  await page.click('article[data-name="trace.npz"] nav.tabs button[data-tab="lines"]');
  const linesState = async () =>
    JSON.parse(await page.locator('article[data-name="trace.npz"] section.chart[data-view="lines"]').getAttribute('data-state'));
  assert.equal((await linesState()).layer, '1', 'the line view follows the heatmap\'s layer');
  await page.click('article[data-name="trace.npz"] nav.tabs button[data-tab="heatmap"]');
  await page.selectOption(heatLayer, '0');

  const doc = JSON.parse(await page.evaluate(() => document.getElementById('bertscope-config').textContent)).documents.find(
    (d) => d.name === 'trace.npz',
  ).json;
  const values = attentionOf(doc);
  await page.click('article[data-name="trace.npz"] nav.tabs button[data-tab="lines"]');
  const lines = page.locator('article[data-name="trace.npz"] section.chart[data-view="lines"] canvas');
  await lines.waitFor({ state: 'visible' });
  const allHeads = [...Array(H).keys()];
  assert.equal(await lines.getAttribute('data-links'), String(expectedLinks(doc, values, { layer: 0, heads: allHeads })));
  const ld = await lines.evaluate((c) => ({ ...c.dataset }));
  const lb = await lines.boundingBox();
  await page.mouse.move(lb.x + +ld.margin + +ld.labelWidth - 8, lb.y + +ld.top + 2.5 * +ld.row);
  await page.waitForFunction(
    () => document.querySelector('article[data-name="trace.npz"] section.chart[data-view="lines"] canvas').dataset.focus === '2',
  );
  assert.equal(
    await lines.getAttribute('data-links'),
    String(expectedLinks(doc, values, { layer: 0, heads: allHeads, keepQ: (i) => i === 2 })),
  );
  await shot(page, '05-trace-lines-hover');

  assert.deepEqual(problems, []);
  console.log('browser_report: all checks passed');
} finally {
  if (browser) await browser.close();
  cleanup(dir);
}

// The example notebook's outputs (docs/examples/tour.ipynb, executed by python/tests/
// test_notebook.py, which saves them as one page) in headless Chromium from file://: every
// inline viewer (a sandboxed iframe holding the whole self-contained viewer) drew, the trace
// viewers paint every head of their grid, the result viewer paints its charts, no output
// requests anything outside the page, and no page logs an error.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { assert, launchBrowser, paintedGridCells, screenshots, shot, watch } from './harness.mjs';

const html = path.join(process.env.BERTSCOPE_NOTEBOOK_OUT ?? '', 'tour.html');
if (!process.env.BERTSCOPE_NOTEBOOK_OUT || !existsSync(html)) {
  console.error(`${html}: missing; the python_package test (test_notebook.py) writes it`);
  process.exit(1);
}

let browser = null;
try {
  screenshots('notebook');
  browser = await launchBrowser();
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const url = pathToFileURL(html).href;
  const problems = watch(page, (u) => u === url || u === 'about:srcdoc' || u.startsWith('data:') || u.startsWith('blob:'));
  await page.goto(url);
  const frames = page.locator('iframe.bertscope-view');
  const n = await frames.count();
  assert.equal(n, 4, 'four inline viewers: two traces, the surface result, the AttentionMaps');
  let traces = 0;
  let results = 0;
  for (let i = 0; i < n; i++) {
    const handle = await frames.nth(i).elementHandle();
    await handle.scrollIntoViewIfNeeded();
    const frame = await handle.contentFrame();
    assert.ok(frame, `viewer ${i}: no frame`);
    await frame.waitForSelector('article section.chart', { timeout: 30000 });
    const grid = frame.locator('section.chart[data-view="grid"] canvas');
    if ((await grid.count()) > 0) {
      const cells = Number(await grid.first().getAttribute('data-cells'));
      assert.ok(cells > 0, `viewer ${i}: empty grid`);
      assert.equal(await paintedGridCells(frame, 'section.chart[data-view="grid"] canvas'), cells, `viewer ${i}: unpainted heads`);
      traces++;
    } else {
      // A result document: its charts are canvases with something painted on them.
      await frame.waitForSelector('section.chart canvas', { state: 'attached' });
      const painted = await frame.evaluate(() =>
        [...document.querySelectorAll('section.chart canvas')].filter((c) => {
          if (!c.width || !c.height) return false;
          const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          for (let k = 0; k < px.length; k += 4) if (px[k + 3] > 0 && (px[k] < 200 || px[k + 1] < 200)) return true;
          return false;
        }).length,
      );
      assert.ok(painted > 0, `viewer ${i}: no chart painted`);
      results++;
    }
  }
  assert.equal(traces, 3);
  assert.equal(results, 1);
  await shot(page, '01-notebook');
  assert.deepEqual(problems, []);
  console.log('browser_notebook: all checks passed');
} finally {
  if (browser) await browser.close();
}

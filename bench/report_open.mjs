// How fast the main job's report opens in headless Chromium (issue 19: under 1 s): the time from
// navigation to the summary of findings on screen, and for each document the time from its click
// to all its figures drawn. Median of --rounds fresh page loads.
//   node bench/report_open.mjs REPORT_INDEX_HTML [ROUNDS]
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [index, roundsArg] = process.argv.slice(2);
const nodeModules = process.env.BERTSCOPE_NODE_MODULES;
if (!index || !nodeModules) {
  console.error('usage: BERTSCOPE_NODE_MODULES=DIR node bench/report_open.mjs REPORT_INDEX_HTML [ROUNDS]');
  process.exit(2);
}
const rounds = Number(roundsArg ?? 5);
const require = createRequire(path.join(nodeModules, 'noop.js'));
const { chromium } = require('playwright-core');
const browser = await chromium.launch({
  executablePath: process.env.BERTSCOPE_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const url = pathToFileURL(path.resolve(index)).href;
const open = [];
const perDoc = new Map();
try {
  for (let r = 0; r < rounds; r++) {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const t0 = Date.now();
    await page.goto(url);
    await page.waitForSelector('article.summary-document, article.result-document');
    open.push(Date.now() - t0);
    const names = await page.locator('nav.doc-list button').evaluateAll((bs) => bs.map((b) => b.dataset.name));
    for (const name of names) {
      if (name === '#summary') continue;
      const t1 = Date.now();
      await page.click(`nav.doc-list button[data-name="${name}"]`);
      await page.waitForSelector(`article[data-name="${name}"]`);
      // Every chart painted: frames render synchronously on the click, so one animation frame later.
      await page.evaluate(() => new Promise((ok) => requestAnimationFrame(() => ok())));
      const list = perDoc.get(name) ?? [];
      list.push(Date.now() - t1);
      perDoc.set(name, list);
    }
    if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
    await page.close();
  }
} finally {
  await browser.close();
}
console.log(`report ${index}: opens (summary on screen) in ${median(open)} ms (median of ${rounds} loads: ${open.join(', ')})`);
let slowest = ['', 0];
for (const [name, ts] of perDoc) {
  const m = median(ts);
  console.log(`  ${name.padEnd(28)} ${String(m).padStart(5)} ms to open with all its figures`);
  if (m > slowest[1]) slowest = [name, m];
}
console.log(`slowest document: ${slowest[0]} ${slowest[1]} ms; target: the report opens in under 1000 ms`);

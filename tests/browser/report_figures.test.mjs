// The figures the methods declare, in the report: documents written by the methods on tiny
// random models (and one synthetic surface result with known values) are opened in headless
// Chromium; every declared figure is drawn under its title and caption, its SVG carries the title
// and the axis titles, and nothing is logged as an error. The synthetic document checks the marks
// sit where the data says: layer 3 puts 0.6 on [SEP], on a fixed 0..1 axis. `bertscope figure`
// draws a declared figure by its id.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { assert, cleanup, download, makeModel, openReport, run, screenshots, shot, svgFacts, tempDir, testData } from './harness.mjs';

const dir = tempDir('report-figures');
let browser = null;


try {
  screenshots('report_figures');
  const model = makeModel(path.join(dir, 'mlm'), { layers: 2, hidden: 32, heads: 2, intermediate: 48, seed: 5 });
  const classifier = makeModel(path.join(dir, 'clf'), { layers: 2, hidden: 32, heads: 2, intermediate: 48, seed: 6, labels: 2 });
  const results = path.join(dir, 'results');
  const lines = path.join(dir, 'lines.txt');
  writeFileSync(lines, 'the cat sat on the mat , and then it slept .\nwho is there ?\tnobody .\na long day , a short night .\n');
  const sst2 = path.join(testData, 'kovaleva', 'sst2_dev.head40.tsv');
  const out = (name) => ['--out', path.join(results, name)];
  run(['analyze', 'surface', '--model', model, '--data', lines, ...out('surface.json')]);
  run(['analyze', 'syntax', '--model', model, '--data', path.join(testData, 'clark', 'en_ewt-ud-dev.first60.conllu'), ...out('syntax.json')]);
  run(['analyze', 'gradsep', '--model', model, '--data', lines, ...out('gradsep.json')]);
  run(['analyze', 'importance', '--model', classifier, '--data', sst2, ...out('importance.json')]);
  run(['ablate', '--model', classifier, '--data', sst2, ...out('ablate.json')]);
  const clark = path.join(testData, 'clark');
  run(['analyze', 'coref', '--model', model, '--data', path.join(clark, 'handmade_coref.jsonl'), ...out('coref.json')]);
  run(['analyze', 'probe', '--model', model, '--data', path.join(clark, 'handmade.conllu'), '--dev', path.join(clark, 'handmade.conllu'),
       ...out('probe.json')]);
  run(['analyze', 'cluster', '--model', model, '--data', lines, ...out('cluster.json')]);
  run(['analyze', 'patterns', '--model', model, '--data', sst2, ...out('patterns.json')]);
  run(['analyze', 'features', '--model', model, '--data', sst2, ...out('features.json')]);
  run(['analyze', 'influence', '--model', model, '--data', path.join(testData, 'influence', 'subj_rel.excerpt.tsv'),
       '--max-examples', '2', '--steps', '4', '--ablation-tokens', '2', ...out('influence.json')]);
  run(['compare', '--model', model, '--model-b', classifier, '--data', sst2, '--pad-to', '128', ...out('compare.json')]);
  const sst2Few = path.join(dir, 'sst2_few.tsv');
  writeFileSync(sst2Few, readFileSync(sst2, 'utf8').split('\n').slice(0, 4).join('\n') + '\n');
  run(['analyze', 'saliency', '--model', classifier, '--data', sst2Few, '--steps', '4', ...out('saliency.json')]);
  run(['analyze', 'rollout', '--model', model, '--data', lines, ...out('rollout.json')]);
  run(['analyze', 'flow', '--model', model, '--data', lines, ...out('flow.json')]);
  // Training dynamics over two "checkpoints" of one shape.
  const ckpts = path.join(dir, 'checkpoints');
  makeModel(path.join(ckpts, 'step-000010'), { layers: 2, hidden: 32, heads: 2, intermediate: 48, seed: 5 });
  makeModel(path.join(ckpts, 'step-000020'), { layers: 2, hidden: 32, heads: 2, intermediate: 48, seed: 7 });
  const repoData = path.join(testData, '..', '..', 'data');
  run(['track', '--checkpoints', ckpts, '--data', lines, '--lines', '--ud', path.join(clark, 'en_ewt-ud-dev.first60.conllu'),
       '--min-relation-count', '5', '--agreement', path.join(repoData, 'marvin_linzen', 'simple_agrmt.sample.tsv'), ...out('track.json')]);

  // Known data: 4 layers x 2 heads; layer 3 (index 2) puts 0.6 on [SEP], every head of it too.
  const real = JSON.parse(readFileSync(path.join(results, 'surface.json'), 'utf8'));
  const L = 4;
  const H = 2;
  const stats = (l, h) => ({
    self: 0.1, prev: 0.05, next: 0.05, cls: 0.1 * l, sep: l === 2 ? 0.6 : 0.1, punct: 0.02 + 0.01 * h,
    sep_to_sep: 0.5, other_to_sep: l === 2 ? 0.6 : 0.1, entropy: 3 - 0.5 * l, cls_entropy: 2 + 0.1 * l,
  });
  const synthetic = {
    ...real,
    model: { layers: L, heads: H },
    results: {
      ...real.results,
      layers: Array.from({ length: L }, (_, l) => ({ layer: l, ...stats(l, 0.5) })),
      heads: Array.from({ length: L * H }, (_, k) => ({
        layer: Math.floor(k / H), head: k % H, label: `${Math.floor(k / H) + 1}-${(k % H) + 1}`, behaviour: 'broad',
        ...stats(Math.floor(k / H), k % H),
      })),
      uniform_entropy: 4.2,
    },
  };
  writeFileSync(path.join(results, 'synthetic-surface.json'), JSON.stringify(synthetic));
  // Known tokens: token 2 raises F by 0.5, token 3 lowers it by 0.5; position 1 is the output position.
  const saliencyDoc = JSON.parse(readFileSync(path.join(results, 'saliency.json'), 'utf8'));
  const known = {
    ...saliencyDoc.results.examples[0],
    tokens: ['[CLS]', 'good', 'film', 'not', '[SEP]'],
    integrated_gradients: [0, 0.1, 0.5, -0.5, 0],
    grad_x_input: [0, 0.05, 0.2, -0.1, 0],
    position: 1,
  };
  writeFileSync(path.join(results, 'synthetic-saliency.json'),
    JSON.stringify({ ...saliencyDoc, results: { ...saliencyDoc.results, examples: [known] } }));
  // A known pattern: the source "keys" (1) skips block 1, moves to [MASK] (3) through head 2-2 in
  // block 2, then skips; the target is position 3.
  const influenceDoc = JSON.parse(readFileSync(path.join(results, 'influence.json'), 'utf8'));
  const pattern = {
    source: 1, token: 'keys', role: 'subject', sign: 1, attribution: 0.4, total: 0.4, positions: [1, 1, 3, 3],
    edges: ['skip', 1, 'skip'],
    layers: [
      { block: 0, edge: 'skip', from: 1, to: 1, influence: 0.3 },
      { block: 1, edge: 'head', head: 1, label: '2-2', from: 1, to: 3, influence: 0.25 },
      { block: 2, edge: 'skip', from: 3, to: 3, influence: -0.2 },
    ],
    stage1: [0.4, 0.3, 0.25, 0.2], stage1_influence: 0.2, influence: -0.2,
  };
  const knownExample = { ...influenceDoc.results.examples[0], tokens: ['[CLS]', 'keys', 'to', '[MASK]', '[SEP]'], target: 3, patterns: [pattern] };
  writeFileSync(path.join(results, 'synthetic-influence.json'),
    JSON.stringify({ ...influenceDoc, results: { ...influenceDoc.results, examples: [knownExample] } }));
  // Known syntax: 'all' beats its baseline, nsubj misses it, a rare relation is hidden; the
  // results' order (all first), accuracies in percent.
  const syntaxDoc = JSON.parse(readFileSync(path.join(results, 'syntax.json'), 'utf8'));
  const rel = (count, best, base) => ({
    count, best: { accuracy: best, direction: 'dep_to_head', layer: 1, head: 0, label: '2-1' },
    baseline: { accuracy: base, offset: -1, per_offset: {} }, per_head: { dep_to_head: [[best, 0], [0, 0]], head_to_dep: [[0, 0], [0, 0]] },
  });
  writeFileSync(path.join(results, 'synthetic-syntax.json'), JSON.stringify({
    // The table as syntax declares it for a treebank of 10,000 words or more: relations under 100 hidden.
    ...syntaxDoc, figures: syntaxDoc.figures.filter((f) => f.id === 'syntax.relations')
      .map((f) => ({ ...f, options: { ...f.options, min: { path: 'count', value: 100 } } })),
    results: { words: 20000, sentences: 1000, order: ['all', 'nsubj', 'rare'],
      relations: { nsubj: rel(200, 0.6, 0.7), all: rel(20000, 0.5, 0.3), rare: rel(5, 0.9, 0.1) } },
  }));
  // Known MDS: heads at (0, 0), (10, 0) and (0, 1); equal axes draw 10 units across as 10 up.
  const clusterDoc = JSON.parse(readFileSync(path.join(results, 'cluster.json'), 'utf8'));
  const mdsHeads = [[0, 0], [10, 0], [0, 1], [5, 0.5]].map((c, k) => ({
    layer: Math.floor(k / 2), head: k % 2, label: `${Math.floor(k / 2) + 1}-${(k % 2) + 1}`, behaviour: k === 1 ? 'next' : 'broad', coordinates: c,
  }));
  writeFileSync(path.join(results, 'synthetic-cluster.json'), JSON.stringify({
    ...clusterDoc, figures: clusterDoc.figures, model: { ...clusterDoc.model, layers: 2, heads: 2 }, results: { ...clusterDoc.results, heads: mdsHeads },
  }));
  // Known pruning curve: 0.9 unpruned, 0.8 at a tenth of the heads, 0.4 at half; threshold 0.81.
  const importanceDoc = JSON.parse(readFileSync(path.join(results, 'importance.json'), 'utf8'));
  writeFileSync(path.join(results, 'synthetic-importance.json'), JSON.stringify({
    ...importanceDoc, figures: importanceDoc.figures.filter((f) => f.id === 'importance.pruning'),
    results: { ...importanceDoc.results, baseline_metric: 0.9, threshold_metric: 0.81,
      curve: [[0, 0.9], [0.1, 0.8], [0.5, 0.4]].map(([fraction_masked, metric], step) => ({ step, fraction_masked, metric })) },
  }));
  const docs = ['surface.json', 'syntax.json', 'gradsep.json', 'importance.json', 'ablate.json', 'coref.json', 'probe.json',
    'patterns.json', 'features.json', 'influence.json', 'compare.json', 'cluster.json', 'saliency.json', 'rollout.json',
    'flow.json', 'track.json', 'synthetic-surface.json', 'synthetic-saliency.json', 'synthetic-influence.json',
    'synthetic-syntax.json', 'synthetic-cluster.json', 'synthetic-importance.json'];
  const declared = Object.fromEntries(
    docs.map((name) => [name, JSON.parse(readFileSync(path.join(results, name), 'utf8')).figures ?? []]),
  );
  for (const name of docs) assert.ok(declared[name].length > 0, `${name} declares no figures`);

  const report = path.join(dir, 'report');
  run(['report', '--results', results, '--out', report]);
  const opened = await openReport(report);
  browser = opened.browser;
  const { page, parser, url, problems } = opened;

  let figures = 0;
  for (const name of docs) {
    await page.click(`nav.doc-list button[data-name="${name}"]`);
    const article = page.locator(`article.result-document[data-name="${name}"]`);
    await article.waitFor();
    // Only the declared figures, in the declared order: nothing guessed from shapes.
    const shown = await article.locator('section.chart').evaluateAll((cs) => cs.map((c) => c.dataset.view));
    assert.deepEqual(shown, declared[name].map((f) => f.id), `${name}: the charts are not the declared figures`);
    for (const f of declared[name]) {
      const chart = article.locator(`section.chart[data-view="${f.id}"]`);
      assert.equal(await chart.locator('header h3').textContent(), f.title, `${name} ${f.id}: title`);
      assert.ok((await chart.locator('p.caption').textContent()).startsWith(f.caption), `${name} ${f.id}: caption`);
      if (f.kind === 'table') {
        const headers = await chart.locator('table thead th').allTextContents();
        for (const v of f.values) assert.ok(headers.some((h) => h.startsWith(v.label)), `${name} ${f.id}: no column ${v.label}`);
        assert.ok((await chart.locator('table tbody tr').count()) > 0, `${name} ${f.id}: no rows`);
      }
      const svg = await download(page, chart.locator('button.export-svg'));
      const facts = await svgFacts(parser, svg.bytes.toString('utf8'), 'text.title');
      assert.equal(facts.error, undefined, `${name} ${f.id}: invalid SVG ${facts.error}`);
      assert.ok(facts.texts.some((t) => t.startsWith(f.title)), `${name} ${f.id}: no title in the SVG`);
      if (f.kind !== 'table') {
        assert.ok(facts.texts.includes(f.axis), `${name} ${f.id}: no axis title "${f.axis}" in ${JSON.stringify(facts.texts)}`);
        const xTitle = f.kind === 'heatmap' ? 'layer' : f.x_axis;
        if (xTitle) assert.ok(facts.texts.includes(xTitle), `${name} ${f.id}: no x-axis title "${xTitle}"`);
      }
      figures++;
    }
    await shot(page, `${name.replace('.json', '')}`);
  }

  // The marks of the known data: [SEP] at layer 3 is drawn at 0.6 of a fixed 0..1 axis.
  await page.click('nav.doc-list button[data-name="synthetic-surface.json"]');
  const special = page.locator('article[data-name="synthetic-surface.json"] section.chart[data-view="surface.special_tokens"]');
  const svg = (await download(page, special.locator('button.export-svg'))).bytes.toString('utf8');
  const area = (await svgFacts(parser, svg, 'g.plot-area')).marks[0];
  assert.equal(+area['data-y0'], 0, 'the axis starts at 0');
  assert.equal(+area['data-y1'], 1, 'the axis ends at 1');
  const y = (v) => +area['data-y0px'] + v * (+area['data-y1px'] - +area['data-y0px']);
  const points = (await svgFacts(parser, svg, 'circle.point')).marks;
  const sep3 = points.find((p) => p['data-series'] === '[SEP]' && p['data-index'] === '2');
  assert.ok(sep3, 'no [SEP] point at layer 3');
  assert.ok(Math.abs(+sep3.cy - y(0.6)) < 0.01, `[SEP] at layer 3 drawn at y=${sep3.cy}, expected ${y(0.6)}`);
  const sep1 = points.find((p) => p['data-series'] === '[SEP]' && p['data-index'] === '0');
  assert.ok(Math.abs(+sep1.cy - y(0.1)) < 0.01, `[SEP] at layer 1 drawn at y=${sep1.cy}, expected ${y(0.1)}`);
  const dots = (await svgFacts(parser, svg, 'circle.head-dot')).marks.filter((d) => d['data-series'] === '[SEP]');
  assert.equal(dots.length, L * H, 'one dot per head');
  for (const d of dots.filter((d) => d['data-index'] === '2')) assert.ok(Math.abs(+d.cy - y(0.6)) < 0.01);
  // The per-head map's colour bar is fixed at 0..1 whatever the data's range.
  const heat = page.locator('article[data-name="synthetic-surface.json"] section.chart[data-view="surface.head_attention"]');
  const bar = (await svgFacts(parser, (await download(page, heat.locator('button.export-svg'))).bytes.toString('utf8'), 'g.colorbar')).marks[0];
  assert.deepEqual([+bar['data-lo'], +bar['data-hi']], [0, 1]);
  // The entropy chart draws the uniform-attention line.
  const entropy = page.locator('article[data-name="synthetic-surface.json"] section.chart[data-view="surface.entropy"]');
  const refs = await svgFacts(parser, (await download(page, entropy.locator('button.export-svg'))).bytes.toString('utf8'), 'line.reference-line, path.reference-line');
  assert.ok(refs.texts.includes('uniform attention 4.2'), JSON.stringify(refs.texts));

  // Head disabling is a diverging map centred on 0.
  await page.click('nav.doc-list button[data-name="ablate.json"]');
  const ablate = page.locator('article[data-name="ablate.json"] section.chart[data-view="ablate.heads"]');
  const centred = (await svgFacts(parser, (await download(page, ablate.locator('button.export-svg'))).bytes.toString('utf8'), 'g.colorbar')).marks[0];
  assert.ok(+centred['data-hi'] > 0 && +centred['data-lo'] === -centred['data-hi'], `ablate.heads colour bar ${centred['data-lo']}..${centred['data-hi']}`);

  // The syntax table: the results' order, percent, a beats/misses mark, the rare relation hidden.
  await page.click('nav.doc-list button[data-name="synthetic-syntax.json"]');
  const synRows = await page.locator('article[data-name="synthetic-syntax.json"] section.chart[data-view="syntax.relations"] table tbody tr')
    .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
  assert.deepEqual(synRows.map((r) => r[0]), ['all', 'nsubj'], `rows ${JSON.stringify(synRows)}`);
  assert.ok(synRows[0].includes('50') && synRows[0].includes('30'), `percent: ${synRows[0]}`);
  assert.equal(synRows[0].at(-1), 'beats');
  assert.equal(synRows[1].at(-1), 'misses');
  // The MDS on equal axes: a unit is as long across as up, and the heads are coloured by behaviour.
  await page.click('nav.doc-list button[data-name="synthetic-cluster.json"]');
  const mds = page.locator('article[data-name="synthetic-cluster.json"] section.chart[data-view="cluster.mds"]');
  const mdsSvg = (await download(page, mds.locator('button.export-svg'))).bytes.toString('utf8');
  const pts = (await svgFacts(parser, mdsSvg, 'circle.point')).marks;
  const at = (x, y) => pts.find((q) => +q['data-x'] === x && +q['data-y'] === y);
  const across = Math.abs(+at(10, 0).cx - +at(0, 0).cx) / 10;
  const up = Math.abs(+at(0, 1).cy - +at(0, 0).cy) / 1;
  assert.ok(Math.abs(across - up) < 0.01 * across, `equal axes: ${across} px per unit across, ${up} up`);
  assert.notEqual(at(10, 0).fill, at(0, 0).fill, 'the next head and the broad heads differ in colour');

  // The pruning curve: each point at its fraction (numeric x) and metric, the two references drawn.
  await page.click('nav.doc-list button[data-name="synthetic-importance.json"]');
  const prune = page.locator('article[data-name="synthetic-importance.json"] section.chart[data-view="importance.pruning"]');
  const pruneSvg = (await download(page, prune.locator('button.export-svg'))).bytes.toString('utf8');
  const parea = (await svgFacts(parser, pruneSvg, 'g.plot-area')).marks[0];
  const py = (v) => +parea['data-y0px'] + ((v - +parea['data-y0']) * (+parea['data-y1px'] - +parea['data-y0px'])) / (+parea['data-y1'] - +parea['data-y0']);
  const ppts = (await svgFacts(parser, pruneSvg, 'circle.point')).marks.sort((a, b) => +a['data-index'] - +b['data-index']);
  assert.equal(ppts.length, 3);
  [0.9, 0.8, 0.4].forEach((v, k) => assert.ok(Math.abs(+ppts[k].cy - py(v)) < 0.01, `point ${k} at ${ppts[k].cy}, expected ${py(v)}`));
  const gap1 = +ppts[1].cx - +ppts[0].cx;
  const gap2 = +ppts[2].cx - +ppts[1].cx;
  assert.ok(gap1 > 0 && Math.abs(gap2 - 4 * gap1) < 0.01, `placed by fraction (0, 0.1, 0.5): gaps ${gap1} and ${gap2}`);
  const prefs = await svgFacts(parser, pruneSvg, 'line.reference-line');
  assert.equal(prefs.marks.length, 2, 'unpruned and threshold lines');
  assert.ok(prefs.marks.some((m) => Math.abs(+m.y1 - py(0.81)) < 0.01), 'the threshold at 0.81');

  // Token shading: signed, centred on 0 (red above, blue below), the output position outlined.
  await page.click('nav.doc-list button[data-name="synthetic-saliency.json"]');
  const sal = page.locator('article[data-name="synthetic-saliency.json"] section.chart[data-view="saliency.tokens"]');
  const salSvg = (await download(page, sal.locator('button.export-svg'))).bytes.toString('utf8');
  const toks = (await svgFacts(parser, salSvg, 'rect.token')).marks;
  assert.equal(toks.length, 5, 'integrated gradients alone by default: one row of 5 tokens');
  const rgbOf = (fill) => fill.match(/\d+/g).map(Number);
  const [r2, , b2] = rgbOf(toks.find((t) => t['data-index'] === '2').fill);
  const [r3, , b3] = rgbOf(toks.find((t) => t['data-index'] === '3').fill);
  assert.ok(r2 - b2 > 50, `+0.5 is red, got ${toks[2].fill}`);
  assert.ok(b3 - r3 > 50, `-0.5 is blue, got ${toks[3].fill}`);
  const white = rgbOf(toks.find((t) => t["data-index"] === "0").fill);
  assert.ok(white.every((c) => c > 235), `0 is (nearly) white, got ${white}`);
  const salBar = (await svgFacts(parser, salSvg, 'g.colorbar')).marks[0];
  assert.deepEqual([+salBar['data-lo'], +salBar['data-hi']], [-0.5, 0.5], 'the scale is centred on 0');
  assert.ok(+toks.find((t) => t['data-index'] === '1')['stroke-width'] > 1, 'the output position is outlined');
  // Rollout opens with both rows (rollout, raw attention) on one scale from 0.
  await page.click('nav.doc-list button[data-name="rollout.json"]');
  const roll = page.locator('article[data-name="rollout.json"] section.chart[data-view="rollout.tokens"]');
  const rollSvg = (await download(page, roll.locator('button.export-svg'))).bytes.toString('utf8');
  const rollFacts = await svgFacts(parser, rollSvg, 'rect.token');
  assert.deepEqual([...new Set(rollFacts.marks.map((m) => m['data-field']))], ['rollout', 'raw attention (head mean)']);
  assert.equal(+(await svgFacts(parser, rollSvg, 'g.colorbar')).marks[0]['data-lo'], 0);
  // The known pattern: two dashed skips, one solid head edge labelled 2-2 from row 1 to row 3.
  await page.click('nav.doc-list button[data-name="synthetic-influence.json"]');
  const pat = page.locator('article[data-name="synthetic-influence.json"] section.chart[data-view="influence.patterns"]');
  const patSvg = (await download(page, pat.locator('button.export-svg'))).bytes.toString('utf8');
  const edges = (await svgFacts(parser, patSvg, 'path.edge')).marks;
  assert.equal(edges.length, 3, 'one edge per block');
  assert.deepEqual(edges.map((e) => e['data-edge']), ['skip', 'head', 'skip']);
  assert.ok(edges[0]['stroke-dasharray'] && !edges[1]['stroke-dasharray'], 'skips dashed, the head solid');
  assert.equal(edges[1]['data-head'], '2-2');
  const patFacts = await svgFacts(parser, patSvg, 'circle.node');
  assert.ok(patFacts.texts.includes('2-2'), 'the head edge is labelled');
  assert.equal(patFacts.marks.length, 4, 'one node per layer');
  const ys = patFacts.marks.map((m) => +m.cy);
  assert.ok(ys[0] === ys[1] && ys[2] > ys[1] && ys[2] === ys[3], `nodes at rows 1, 1, 3, 3: ${ys}`);
  const lastFill = rgbOf(patFacts.marks[3].fill);
  assert.ok(lastFill[2] > lastFill[0], 'a negative influence is blue');

  // The report opens with the summary of findings, grouped by paper, linked to their figures.
  await page.goto(url);
  const summary = page.locator('article.summary-document');
  await summary.waitFor();
  assert.ok((await summary.locator('h3.paper').allTextContents()).some((t) => t.startsWith('Clark et al. (2019)')));
  await summary.locator('section.finding[data-method="surface"] a[data-view="surface.entropy"]').first().click();
  await page.locator('article.result-document[data-name] section.chart[data-view="surface.entropy"]').first().waitFor();
  assert.ok(await page.locator('article.result-document details.params').first().count(), 'parameters in a collapsed block');

  // Figure options, the same names on the command line: no title, another y-axis title, 800 px
  // wide, grey colours on a fixed range; the colour bar is vector (no image in the SVG).
  const styled = path.join(dir, 'styled.svg');
  run(['figure', '--results', path.join(results, 'synthetic-surface.json'), '--view', 'surface.head_attention',
       '--set', 'title=off', '--set', 'y-label=model layer', '--set', 'width=800', '--set', 'colormap=greys',
       '--set', 'range=0,0.5', '--set', 'font-size=16', '--out', styled]);
  const styledSvg = readFileSync(styled, 'utf8');
  const sf = await svgFacts(parser, styledSvg, 'svg');
  assert.equal(+sf.marks[0].width, 800, 'the width asked for');
  assert.ok(!sf.texts.some((t) => t.startsWith('Attention')), 'no title');
  assert.ok(sf.texts.includes('model layer'), 'the y-axis title given');
  const styledBar = (await svgFacts(parser, styledSvg, 'g.colorbar')).marks[0];
  assert.deepEqual([+styledBar['data-lo'], +styledBar['data-hi']], [0, 0.5]);
  assert.ok(!styledSvg.includes('<image'), 'no raster in a vector figure');
  const titled = path.join(dir, 'titled.svg');
  run(['figure', '--results', path.join(results, 'synthetic-surface.json'), '--view', 'surface.special_tokens',
       '--set', 'title=Figure 2 (ours)', '--out', titled]);
  assert.ok(readFileSync(titled, 'utf8').includes('>Figure 2 (ours)<'));
  assert.throws(() => run(['figure', '--results', path.join(results, 'synthetic-surface.json'), '--view',
    'surface.special_tokens', '--set', 'range=1,0', '--out', path.join(dir, 'bad.svg')]), /LOW,HIGH/);

  // `bertscope figure --all` writes every declared figure (tables excepted) as SVG and as PNG; the
  // SVGs are vector (no raster: colour bars are cells) and carry their titles.
  let files = 0;
  for (const name of docs) {
    const charts = declared[name].filter((f) => f.kind !== 'table');
    for (const format of ['svg', 'png']) {
      const folder = path.join(dir, `all-${format}-${name}`);
      run(['figure', '--results', path.join(results, name), '--all', '--format', format, '--out', folder]);
      for (const f of charts) {
        const file = path.join(folder, `${f.id}.${format}`);
        const bytes = readFileSync(file);
        if (format === 'png') {
          assert.ok(bytes.subarray(1, 4).toString() === 'PNG' && bytes.length > 1000, `${name} ${f.id}: not a PNG`);
        } else {
          const text = bytes.toString('utf8');
          assert.ok(!text.includes('<image'), `${name} ${f.id}: a raster in the SVG`);
          const facts = await svgFacts(parser, text, 'text.title');
          assert.equal(facts.error, undefined, `${name} ${f.id}: invalid SVG`);
          assert.ok(facts.texts.some((t) => t.startsWith(f.title.slice(0, 20))), `${name} ${f.id}: no title`);
        }
        files++;
      }
    }
  }

  // `bertscope figure` draws a declared figure by its id.
  const fig = path.join(dir, 'special.svg');
  run(['figure', '--results', path.join(results, 'synthetic-surface.json'), '--view', 'surface.special_tokens', '--out', fig]);
  assert.ok(readFileSync(fig, 'utf8').includes('Attention to [CLS], [SEP] and punctuation per layer'));

  assert.deepEqual(problems, []);
  console.log(`browser_report_figures: ${figures} declared figures drawn, ${files} files by figure --all; all checks passed`);
} finally {
  if (browser) await browser.close();
  cleanup(dir);
}

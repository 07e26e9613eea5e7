// The paper figures on known data, beside report_figures.test.mjs: each method writes its document
// on a tiny random model (so the declared figures are the method's own), then its results are
// replaced by values chosen here and the report is opened in headless Chromium. The exported SVG
// of each figure must put every mark where the data says (values -> pixels through the plot
// area's data-y0/data-y1/data-y0px/data-y1px, bar heights, heatmap cells at their layer and head),
// tables must show the rows in the results' order in percent, and the figures name what they
// compare. Clark et al.: probe UAS against the right-branching baseline (Table 3), the coreference
// tables (Table 2), gradient w.r.t. attention to [SEP] (Fig. 3), entropy and [CLS] entropy
// (Fig. 4). Kovaleva et al.: cosine similarity of two named models (Fig. 5), attention to special
// tokens and features before/after (Fig. 6), pattern-type shares per task and per layer, one map
// per type (Fig. 1-2). Lu et al.: the modal pattern with its share, the skip share per block per
// task, QoI retained per ablation method. track: one chart per unit, points at their steps,
// targets dashed.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { assert, cleanup, download, makeModel, openReport, run, screenshots, shot, svgFacts, tempDir, testData } from './harness.mjs';

const dir = tempDir('report-known');
let browser = null;
const started = Date.now();


const close = (a, b, tol = 0.01) => Math.abs(a - b) <= tol;
const near = (a, b, what, tol = 0.01) => assert.ok(close(+a, +b, tol), `${what}: ${a}, expected ${b}`);

try {
  screenshots('report_known');
  const dims = { hidden: 32, heads: 2, intermediate: 48 };
  // The two compared models are named after their folders: the figures must say which is which.
  const pre = makeModel(path.join(dir, 'bert-pretrained'), { layers: 2, ...dims, seed: 5 });
  const tuned = makeModel(path.join(dir, 'bert-sst2'), { layers: 2, ...dims, seed: 6, labels: 2 });
  const results = path.join(dir, 'results');
  const lines = path.join(dir, 'lines.txt');
  writeFileSync(lines, 'the cat sat on the mat , and then it slept .\nwho is there ?\tnobody .\na long day , a short night .\n');
  const sst2 = path.join(testData, 'kovaleva', 'sst2_dev.head40.tsv');
  const clark = path.join(testData, 'clark');
  const out = (name) => ['--out', path.join(results, `real-${name}`)];
  run(['analyze', 'surface', '--model', pre, '--data', lines, ...out('surface.json')]);
  run(['analyze', 'gradsep', '--model', pre, '--data', lines, ...out('gradsep.json')]);
  run(['analyze', 'coref', '--model', pre, '--data', path.join(clark, 'handmade_coref.jsonl'), ...out('coref.json')]);
  run(['analyze', 'probe', '--model', pre, '--data', path.join(clark, 'handmade.conllu'), '--dev', path.join(clark, 'handmade.conllu'),
       ...out('probe.json')]);
  run(['analyze', 'patterns', '--model', pre, '--data', sst2, ...out('patterns.json')]);
  run(['analyze', 'features', '--model', pre, '--data', sst2, ...out('features.json')]);
  // Two tasks, so that the per-task figures have two series.
  run(['analyze', 'influence', '--model', pre, '--data', path.join(testData, 'influence', 'subj_rel.excerpt.tsv'),
       '--data', path.join(testData, 'influence', 'obj_rel_across_anim.excerpt.tsv'),
       '--max-examples', '2', '--steps', '4', '--ablation-tokens', '2', ...out('influence.json')]);
  run(['compare', '--model', pre, '--model-b', tuned, '--data', sst2, '--pad-to', '128', ...out('compare.json')]);
  const ckpts = path.join(dir, 'checkpoints');
  makeModel(path.join(ckpts, 'step-000010'), { layers: 2, ...dims, seed: 5 });
  makeModel(path.join(ckpts, 'step-000020'), { layers: 2, ...dims, seed: 7 });
  run(['track', '--checkpoints', ckpts, '--data', lines, '--lines', '--ud', path.join(clark, 'en_ewt-ud-dev.first60.conllu'),
       '--min-relation-count', '5', '--agreement', path.join(testData, '..', '..', 'data', 'marvin_linzen', 'simple_agrmt.sample.tsv'),
       ...out('track.json')]);
  const real = (name) => JSON.parse(readFileSync(path.join(results, `real-${name}`), 'utf8'));
  // A document with the method's own declarations (those of the real run unless `figures` says)
  // and known results.
  const write = (name, doc, known, extra = {}) => {
    writeFileSync(path.join(results, name), JSON.stringify({ ...doc, ...extra, results: known }));
  };
  const ids = (doc) => doc.figures.map((f) => f.id);
  const L = 4;
  const H = 2;
  const grid = (f) => Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => f(l, h)));
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

  // --- Clark et al. --------------------------------------------------------------------------
  // Table 3: attn 0.61 and attn+glove 0.77 UAS against right-branching 0.26.
  const probeDoc = real('probe.json');
  assert.deepEqual(ids(probeDoc), ['probe.uas']);
  const realProbe = probeDoc.results.probes.attn;
  write('known-probe.json', probeDoc, {
    ...probeDoc.results,
    baselines: { right_branching: { uas: 0.26 } },
    probes: { attn: { ...realProbe, uas: 0.61 }, attn_glove: { ...realProbe, uas: 0.77 } },
  });

  // Table 2: the best head per anaphor type (5-4 overall), in the results' order, a type with no
  // anaphors hidden; the baselines in percent.
  const corefDoc = real('coref.json');
  assert.deepEqual(ids(corefDoc), ['coref.best', 'coref.baselines', 'coref.heads']);
  const best = (accuracy, anaphors, layer, head, pronoun, proper) => ({
    accuracy, anaphors, layer, head, label: `${layer + 1}-${head + 1}`, by_type: { all: accuracy, nominal: null, pronoun, proper },
  });
  write('known-coref.json', corefDoc, {
    ...corefDoc.results,
    best: {
      all: best(0.65, 200, 4, 3, 0.64, 0.73),
      pronoun: best(0.7, 120, 3, 1, 0.7, 0.5),
      proper: best(0.8, 50, 2, 0, 0.55, 0.8),
      nominal: best(null, 0, 0, 0, 0, 0),
    },
    baselines: {
      nearest: { all: 0.27, nominal: null, pronoun: 0.29, proper: 0.13 },
      head_match: { all: 0.52, nominal: null, pronoun: 0.47, proper: 0.67 },
      rule_sieve: { all: 0.69, nominal: null, pronoun: 0.7, proper: 0.82 },
    },
    per_head: {
      all: grid((l, h) => (l === 4 - 1 && h === 1 ? 0.65 : 0.1 * l)),
      pronoun: grid(() => 0.2),
      proper: grid(() => 0.3),
      nominal: grid(() => null),
    },
  }, { model: { ...corefDoc.model, layers: L, heads: H } });

  // Fig. 3: the gradient w.r.t. attention to [SEP] falls below the others from layer 3.
  const gradDoc = real('gradsep.json');
  assert.deepEqual(ids(gradDoc), ['gradsep.layers', 'gradsep.heads']);
  const gsep = [0.08, 0.06, 0.01, 0.005];
  const gpunct = [0.05, 0.04, 0.02, 0.01];
  const gother = [0.08, 0.07, 0.06, 0.05];
  const gHeads = { sep: grid((l, h) => gsep[l] * (h ? 1.5 : 0.5)), punct: grid((l) => gpunct[l]), other: grid((l) => gother[l]) };
  write('known-gradsep.json', gradDoc, {
    ...gradDoc.results,
    layers: gsep.map((sep, l) => ({ layer: l, label: l + 1, sep, punct: gpunct[l], other: gother[l] })),
    per_head: gHeads,
    per_layer: { sep: gsep, punct: gpunct, other: gother },
  }, { model: { ...gradDoc.model, layers: L, heads: H } });

  // Fig. 4: entropy falls with depth, [CLS] entropy rises in the last layer; uniform is 2.5.
  const surfDoc = real('surface.json');
  assert.ok(['surface.entropy', 'surface.cls_entropy'].every((id) => ids(surfDoc).includes(id)));
  const ent = (l, h) => 2 - 0.4 * l + 0.2 * h;
  const clsEnt = (l, h) => (l === L - 1 ? 2.2 : 1) + 0.1 * h;
  const headStats = (l, h) => ({
    self: 0.1, prev: 0.05, next: 0.05, cls: 0.1, sep: 0.2, punct: 0.05, sep_to_sep: 0.5, other_to_sep: 0.2,
    entropy: ent(l, h), cls_entropy: clsEnt(l, h),
  });
  write('known-surface.json', surfDoc, {
    ...surfDoc.results,
    layers: Array.from({ length: L }, (_, l) => ({ layer: l, ...headStats(l, 0), entropy: ent(l, 0.5), cls_entropy: clsEnt(l, 0.5) })),
    heads: Array.from({ length: L * H }, (_, k) => {
      const l = Math.floor(k / H);
      const h = k % H;
      return { layer: l, head: h, label: `${l + 1}-${h + 1}`, behaviour: 'broad', ...headStats(l, h) };
    }),
    uniform_entropy: 2.5,
  }, { model: { ...surfDoc.model, layers: L, heads: H } });

  // --- Kovaleva et al. -----------------------------------------------------------------------
  // Fig. 5: the last two layers change most. Fig. 6: [SEP] gets less attention after fine-tuning.
  const cmpDoc = real('compare.json');
  const cosine = [[0.95, 0.9], [0.85, 0.8], [0.5, 0.4], [0.3, 0.1]];
  const special = (sepLayers) => ({
    inputs: 40,
    sep: { layers: sepLayers, heads: sepLayers.map((v, l) => [v + 0.05 * (l % 2), v - 0.05 * (l % 2)]) },
    cls: { layers: [0.3, 0.2, 0.1, 0.05], heads: grid((l) => [0.3, 0.2, 0.1, 0.05][l]) },
    punct: { layers: [0.1, 0.1, 0.1, 0.1], heads: grid(() => 0.1) },
  });
  const sepA = [0.1, 0.4, 0.6, 0.5];
  const sepB = [0.1, 0.3, 0.2, 0.05];
  write('known-compare.json', cmpDoc, {
    ...cmpDoc.results,
    cosine,
    cosine_layer_mean: cosine.map(mean),
    special: { a: special(sepA), b: special(sepB) },
  }, { model: { ...cmpDoc.model, layers: L, heads: H } });

  // Fig. 6 per feature: the first feature's tokens receive 0.1 * (layer + 1) + 0.05 * head.
  const featDoc = real('features.json');
  assert.deepEqual(ids(featDoc).slice(0, 2), ['features.received', 'features.from_cls']);
  const featNames = Object.keys(featDoc.results.features);
  const received = (l, h) => 0.1 * (l + 1) + 0.05 * h;
  write('known-features.json', featDoc, {
    ...featDoc.results,
    features: Object.fromEntries(featNames.map((n, k) => [n, {
      ...featDoc.results.features[n],
      received: grid((l, h) => (k === 0 ? received(l, h) : 0.01)),
      from_cls: grid((l, h) => (k === 0 ? 0.9 - 0.2 * l : 0.02 * h)),
    }])),
  }, { model: { ...featDoc.model, layers: L, heads: H } });

  // Fig. 2 (shares per task) and per layer; Fig. 1: one map of each type.
  const patDoc = real('patterns.json');
  assert.deepEqual(ids(patDoc), ['patterns.share', 'patterns.heads', 'patterns.by_layer', 'patterns.examples']);
  const types = ['vertical', 'diagonal', 'vertical+diagonal', 'block', 'heterogeneous'];
  const share = { vertical: 0.3, diagonal: 0.1, 'vertical+diagonal': 0.15, block: 0.05, heterogeneous: 0.4 };
  const byLayer = [
    { vertical: 0.1, diagonal: 0.3, 'vertical+diagonal': 0.1, block: 0.1, heterogeneous: 0.4 },
    { vertical: 0.2, diagonal: 0.1, 'vertical+diagonal': 0.2, block: 0.05, heterogeneous: 0.45 },
    { vertical: 0.4, diagonal: 0, 'vertical+diagonal': 0.2, block: 0.05, heterogeneous: 0.35 },
    { vertical: 0.5, diagonal: 0, 'vertical+diagonal': 0.1, block: 0, heterogeneous: 0.4 },
  ];
  // Each type's map: vertical is a column on [CLS], diagonal the identity, block two blocks...
  const toks = ['[CLS]', 'a', 'fine', 'film', '[SEP]'];
  const n = toks.length;
  const mapOf = {
    vertical: (i, j) => (j === 0 ? 1 : 0),
    diagonal: (i, j) => (i === j ? 1 : 0),
    'vertical+diagonal': (i, j) => (j === 0 ? 0.5 : 0) + (i === j ? 0.5 : 0),
    block: (i, j) => ((i < 2) === (j < 2) ? (i < 2 ? 0.5 : 1 / 3) : 0),
    heterogeneous: (i, j) => ((i * 7 + j * 3) % 5) / 10,
  };
  const examples = types.map((type, k) => ({
    type, layer: k % L, head: k % H, label: `${(k % L) + 1}-${(k % H) + 1}`, input: k, tokens: toks,
    map: Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => mapOf[type](i, j))),
  }));
  write('known-patterns.json', patDoc, {
    ...patDoc.results,
    share,
    by_layer: byLayer.map((s, l) => ({ layer: l, ...s })),
    class_share: Object.fromEntries(types.map((t) => [t, grid((l) => byLayer[l][t])])),
    examples,
  }, { model: { ...patDoc.model, layers: L, heads: H } });

  // --- Lu et al. -----------------------------------------------------------------------------
  const infDoc = real('influence.json');
  assert.deepEqual(ids(infDoc), ['influence.patterns', 'influence.modal', 'influence.tasks', 'influence.skip_by_block', 'influence.ablation']);
  const skipDecl = infDoc.figures.find((f) => f.id === 'influence.skip_by_block');
  const taskKeys = skipDecl.values.map((v) => v.path);
  const taskNames = skipDecl.values.map((v) => v.label);
  assert.equal(taskKeys.length, 2, 'one series per task');
  const skipBy = [[1, 0.75, 0.5, 0.25], [0.5, 0.5, 1, 0]]; // [task][block]
  const retained = { influence: [0.9, 0.8], rollout: [-0.2, 0.3], attention_flow: [0.5, 0.4] }; // method -> [task]
  const budget = { influence: [6, 7], rollout: [5, 7.5], attention_flow: [6.5, 8] }; // nodes kept per example
  const modalTokens = ['[CLS]', 'the', 'keys', 'to', 'the', 'cabinet', '[MASK]', '.', '[SEP]'];
  const modalPattern = (source, token, shareOf, headAt) => ({
    source, token, attribution: shareOf, influence: shareOf, instances: Math.round(10 * shareOf),
    layers: [0, 1, 2, 3].map((b) => (b === headAt
      ? { block: b, edge: 'head', head: 1, label: `${b + 1}-2`, from: source, to: 6, influence: shareOf }
      : { block: b, edge: 'skip', from: b < headAt ? source : 6, to: b < headAt ? source : 6, influence: shareOf })),
  });
  write('known-influence.json', infDoc, {
    ...infDoc.results,
    summary: {
      ...infDoc.results.summary,
      tasks: taskNames.map((task, k) => ({ task, examples: 10 + k, accuracy: [0.9, 0.75][k], skip_share: [0.625, 0.5][k], patterns: 20 + k })),
      blocks: [0, 1, 2, 3].map((block) => ({ block, ...Object.fromEntries(taskKeys.map((key, k) => [key, skipBy[k][block]])) })),
      ablation: Object.keys(retained).map((method) => ({
        method,
        ...Object.fromEntries(taskKeys.flatMap((key, k) => [[key, retained[method][k]], [`nodes_${key}`, budget[method][k]]])),
      })),
      modal: [
        { task: taskNames[0], instances: 10, tokens: modalTokens, target: 6,
          patterns: [modalPattern(2, 'subject (keys)', 0.8, 2), modalPattern(5, 'attractor (cabinet)', 0.2, 0)] },
        { task: taskNames[1], instances: 11, tokens: modalTokens, target: 6, patterns: [modalPattern(2, 'subject (keys)', 0.5, 3)] },
      ],
    },
  }, { model: { ...infDoc.model, layers: L, heads: H } });

  // --- track ---------------------------------------------------------------------------------
  const trackDoc = real('track.json');
  const steps = [100, 200, 600];
  const byStep = steps.map((step, k) => ({
    step, loss: null, positional_best: [0.2, 0.45, 0.7][k], positional_heads: [0, 1, 4][k], sep_layer_0: [0.1, 0.2, 0.3][k],
    sep_layer_1: [0.05, 0.25, 0.5][k], sep_max: [0.1, 0.25, 0.5][k], syntax_beats: [0, 2, 5][k], syntax_mean_margin: [-0.2, 0, 0.1][k],
    agreement_simple_agrmt_sample: [0.5, 0.7, 0.9][k],
  }));
  const targets = { agreement: 0.8, chance: 0.5, positional: 0.5, sep: 0.4, syntax_margin: 0.05, syntax_relations: 3 };
  write('known-track.json', trackDoc, { ...trackDoc.results, by_step: byStep, targets });

  // ---------------------------------------------------------------------------------------------
  const report = path.join(dir, 'report');
  run(['report', '--results', results, '--out', report]);
  const opened = await openReport(report);
  browser = opened.browser;
  const { page, parser, url, problems } = opened;

  let checked = 0;
  const charts = new Set();
  const open = async (name) => {
    await page.click(`nav.doc-list button[data-name="${name}"]`);
    const article = page.locator(`article.result-document[data-name="${name}"]`);
    await article.waitFor();
    return article;
  };
  // The chart of figure `id` in document `name`: its section, declaration and exported SVG.
  const chart = async (name, id) => {
    const article = await open(name);
    const section = article.locator(`section.chart[data-view="${id}"]`);
    assert.equal(await section.count(), 1, `${name}: no chart ${id}`);
    const decl = JSON.parse(readFileSync(path.join(results, name), 'utf8')).figures.find((f) => f.id === id);
    const svg = (await download(page, section.locator('button.export-svg'))).bytes.toString('utf8');
    const facts = await svgFacts(parser, svg, 'svg');
    assert.equal(facts.error, undefined, `${id}: invalid SVG`);
    charts.add(id);
    return { section, decl, svg, texts: facts.texts, marks: async (sel) => (await svgFacts(parser, svg, sel)).marks };
  };
  // The value axis of a line chart: value -> pixel.
  const yScale = async (c) => {
    const area = (await c.marks('g.plot-area'))[0];
    assert.ok(area, `${c.decl.id}: no plot area`);
    const [v0, v1, p0, p1] = ['data-y0', 'data-y1', 'data-y0px', 'data-y1px'].map((k) => +area[k]);
    const y = (v) => p0 + ((v - v0) * (p1 - p0)) / (v1 - v0);
    y.domain = [v0, v1];
    return y;
  };
  // Every point of every series where the data says: series name -> values per x index.
  const checkLines = async (c, expected, tol = 0.01) => {
    const y = await yScale(c);
    const points = await c.marks('circle.point');
    for (const [series, values] of Object.entries(expected)) {
      values.forEach((v, k) => {
        if (v === null) return;
        const p = points.find((q) => q['data-series'] === series && +q['data-index'] === k);
        assert.ok(p, `${c.decl.id}: no point of "${series}" at index ${k} (series: ${[...new Set(points.map((q) => q['data-series']))]})`);
        near(p['data-value'], v, `${c.decl.id} ${series}[${k}] value`, 1e-9);
        near(p.cy, y(v), `${c.decl.id} ${series}[${k}] drawn at y`, tol);
        checked++;
      });
    }
    assert.equal(points.length, Object.values(expected).flat().filter((v) => v !== null).length, `${c.decl.id}: point count`);
    return { y, points };
  };
  // Heatmap cells: each at its layer (down) and head (across), with its value; equal values share
  // a colour and the colour bar spans `range`.
  const checkCells = async (c, values, range) => {
    const cells = await c.marks('rect.cell');
    assert.equal(cells.length, values.length * values[0].length, `${c.decl.id}: one cell per head`);
    const cell = (l, h) => cells.find((q) => +q['data-layer'] === l && +q['data-head'] === h);
    const w = +cell(0, 1).x - +cell(0, 0).x;
    assert.ok(w > 0, `${c.decl.id}: heads run across`);
    values.forEach((row, l) => row.forEach((v, h) => {
      const q = cell(l, h);
      assert.ok(q, `${c.decl.id}: no cell ${l},${h}`);
      if (v === null) assert.equal(q['data-value'], '', `${c.decl.id} ${l},${h} empty`);
      else near(q['data-value'], v, `${c.decl.id} cell ${l},${h}`, 1e-9);
      near(q.x, +cell(0, 0).x + h * w, `${c.decl.id} cell ${l},${h} x`);
      near(q.y, +cell(0, 0).y + l * w, `${c.decl.id} cell ${l},${h} y`);
      assert.equal(q['data-label'], `${l + 1}-${h + 1}`);
      checked++;
    }));
    const flat = values.flat();
    for (let i = 0; i < cells.length; i++) {
      for (let j = 0; j < cells.length; j++) {
        const [a, b] = [cells[i], cells[j]];
        if (a['data-value'] !== '' && b['data-value'] !== '' && +a['data-value'] === +b['data-value']) assert.equal(a.fill, b.fill);
      }
    }
    if (new Set(flat).size > 1) assert.ok(new Set(cells.map((q) => q.fill)).size > 1, `${c.decl.id}: one colour for different values`);
    if (range) {
      const bar = (await c.marks('g.colorbar'))[0];
      assert.deepEqual([+bar['data-lo'], +bar['data-hi']], range, `${c.decl.id}: colour bar`);
    }
    return cells;
  };
  // Bars: labels in order, heights proportional to the values from one zero line; returns the
  // bars and px per unit.
  const checkBars = async (c, expected) => {
    const bars = await c.marks('rect.bar');
    assert.deepEqual(bars.map((b) => b['data-label']), expected.map(([label]) => label), `${c.decl.id}: bars`);
    const zero = (b) => (+b['data-value'] >= 0 ? +b.y + +b.height : +b.y);
    const k = expected.findIndex(([, v]) => v !== 0);
    const ppu = +bars[k].height / Math.abs(expected[k][1]);
    expected.forEach(([label, v], i) => {
      near(bars[i]['data-value'], v, `${c.decl.id} ${label} value`, 1e-9);
      near(bars[i].height, Math.abs(v) * ppu, `${c.decl.id} ${label} height`);
      near(zero(bars[i]), zero(bars[k]), `${c.decl.id} ${label} from the zero line`);
      if (v > 0) assert.ok(close(+bars[i].y, zero(bars[k]) - v * ppu), `${c.decl.id} ${label} rises from 0`);
      if (v < 0) near(bars[i].y, zero(bars[k]), `${c.decl.id} ${label} hangs from 0`);
      checked++;
    });
    return { bars, ppu, zero: zero(bars[k]) };
  };
  const dashed = (m) => Boolean(m['stroke-dasharray']);
  const tableRows = (c) =>
    c.section.locator('table tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
  const tableHead = (c) => c.section.locator('table thead th').allTextContents();

  // Clark Table 3: the probes' bars and the right-branching line, on a fixed 0..1 axis.
  {
    const c = await chart('known-probe.json', 'probe.uas');
    const { ppu, zero } = await checkBars(c, [['attn', 0.61], ['attn_glove', 0.77]]);
    const refs = await c.marks('line.reference-line');
    assert.equal(refs.length, 1, 'one baseline line');
    assert.ok(dashed(refs[0]), 'the baseline is dashed');
    near(refs[0].y1, zero - 0.26 * ppu, 'right-branching at 0.26');
    assert.ok(c.texts.includes('right-branching 0.26'), `the baseline is named: ${c.texts}`);
    assert.ok(c.texts.includes('1') && c.texts.includes('0'), 'the axis runs 0..1');
    await shot(page, 'probe');
  }

  // Clark Table 2: best heads by type in the results' order, nominal (no anaphors) hidden, percent.
  {
    const c = await chart('known-coref.json', 'coref.best');
    const head = await tableHead(c);
    ['anaphor type', 'head', 'accuracy %', 'pronoun %', 'proper %'].forEach((h, k) => assert.ok(head[k]?.startsWith(h), `column ${k}: ${head}`));
    const rows = await tableRows(c);
    assert.deepEqual(rows, [
      ['all', '5-4', '65', '64', '73'],
      ['pronoun', '4-2', '70', '70', '50'],
      ['proper', '3-1', '80', '55', '80'],
    ], `coref.best rows ${JSON.stringify(rows)}`);
    assert.match(await c.section.locator('p.caption').textContent(), /anaphors at least 1; 1 rows hidden/);
    assert.ok(c.texts.includes('5-4') && c.texts.includes('65'), 'the exported table has the best head and its accuracy');
    const b = await chart('known-coref.json', 'coref.baselines');
    // Objects reach the report with their keys sorted (as the methods write them): that order.
    assert.deepEqual(await tableRows(b), [
      ['head_match', '52', '47', '67'],
      ['nearest', '27', '29', '13'],
      ['rule_sieve', '69', '70', '82'],
    ]);
    const h = await chart('known-coref.json', 'coref.heads');
    await checkCells(h, grid((l, hd) => (l === 3 && hd === 1 ? 0.65 : 0.1 * l)), [0, 1]);
    checked += 6;
  }

  // Clark Fig. 3: the three gradients per layer; per head the [SEP] map.
  {
    const c = await chart('known-gradsep.json', 'gradsep.layers');
    await checkLines(c, { '[SEP]': gsep, '. or ,': gpunct, 'all unmasked tokens': gother });
    assert.ok(c.texts.includes('[SEP]') && c.texts.includes('all unmasked tokens'), 'legend');
    const h = await chart('known-gradsep.json', 'gradsep.heads');
    await checkCells(h, gHeads.sep);
  }

  // Clark Fig. 4: entropy and [CLS] entropy, layer means as points, heads as dots, uniform dashed.
  for (const [id, f, series] of [['surface.entropy', ent, 'entropy'], ['surface.cls_entropy', clsEnt, '[CLS] entropy']]) {
    const c = await chart('known-surface.json', id);
    const { y } = await checkLines(c, { [series]: Array.from({ length: L }, (_, l) => f(l, 0.5)) });
    const dots = (await c.marks('circle.head-dot')).filter((d) => d['data-series'] === series);
    assert.equal(dots.length, L * H, `${id}: a dot per head`);
    for (let l = 0; l < L; l++) {
      const at = dots.filter((d) => +d['data-index'] === l).map((d) => +d.cy).sort((a, b) => a - b);
      const want = [f(l, 0), f(l, 1)].map(y).sort((a, b) => a - b);
      at.forEach((v, k) => near(v, want[k], `${id} head dot at layer ${l + 1}`));
      checked += 2;
    }
    const refs = await c.marks('line.reference-line');
    assert.equal(refs.length, 1);
    assert.ok(dashed(refs[0]));
    near(refs[0].y1, y(2.5), `${id}: uniform entropy at 2.5`);
    assert.ok(c.texts.includes('uniform attention 2.5'));
  }
  await shot(page, 'surface');

  // Kovaleva Fig. 5: each head's cosine in its cell on 0..1, the layer means, both models named.
  {
    const c = await chart('known-compare.json', 'compare.cosine');
    await checkCells(c, cosine, [0, 1]);
    const names = ['bert-pretrained', 'bert-sst2'];
    const title = await c.section.locator('header h3').textContent();
    for (const name of names) {
      assert.ok(title.includes(name), `compare.cosine title names ${name}: "${title}"`);
      assert.ok(c.texts.some((t) => t.includes(name)), `the exported figure names ${name}: ${c.texts}`);
      assert.ok((await c.section.locator('p.caption').textContent()).includes(name), `the caption names ${name}`);
    }
    assert.ok(title.indexOf('bert-pretrained') < title.indexOf('bert-sst2'), 'A before B');
    const m = await chart('known-compare.json', 'compare.cosine_layers');
    await checkLines(m, { 'mean over heads': cosine.map(mean) });
    for (const name of names) assert.ok(m.texts.some((t) => t.includes(name)), `compare.cosine_layers names ${name}`);
    // Fig. 6 before/after: [SEP] per layer in A and in B, the legend naming each model.
    const s = await chart('known-compare.json', 'compare.sep_layers');
    await checkLines(s, { 'A: bert-pretrained': sepA, 'B: bert-sst2': sepB });
    assert.ok(s.texts.includes('A: bert-pretrained') && s.texts.includes('B: bert-sst2'), `legend ${s.texts}`);
    const sh = await chart('known-compare.json', 'compare.sep_heads');
    await checkCells(sh, special(sepA).sep.heads, [0, 1]);
    assert.ok(sh.texts.some((t) => t.includes('bert-pretrained')) && sh.texts.some((t) => t.includes('bert-sst2')), 'per-head maps name both');
    await shot(page, 'compare');
  }

  // Kovaleva Fig. 6 per feature: the first feature's maps, cell by cell, on 0..1.
  {
    const c = await chart('known-features.json', 'features.received');
    await checkCells(c, grid(received), [0, 1]);
    const f = await chart('known-features.json', 'features.from_cls');
    await checkCells(f, grid((l) => 0.9 - 0.2 * l), [0, 1]);
  }

  // Kovaleva Fig. 2: the share of each type (this task), each layer's shares, one map per type.
  {
    const c = await chart('known-patterns.json', 'patterns.share');
    await checkBars(c, types.map((t) => [t, share[t]])); // the paper's order (results.types)
    assert.ok(c.texts.includes('1'), 'the share axis runs to 1');
    const l = await chart('known-patterns.json', 'patterns.by_layer');
    const y = (await checkLines(l, Object.fromEntries(types.map((t) => [t, byLayer.map((s) => s[t])])))).y;
    assert.deepEqual(y.domain, [0, 1], 'fixed 0..1');
    const hm = await chart('known-patterns.json', 'patterns.heads');
    await checkCells(hm, grid((ly) => byLayer[ly].vertical), [0, 1]); // the first type (the paper's order): vertical
    // The example maps: a picker with one entry per type, in the results' order; the first drawn
    // cell by cell with its tokens on both axes.
    const ex = await chart('known-patterns.json', 'patterns.examples');
    const picker = ex.section.locator('select[name="key"]');
    const options = await picker.locator('option').allTextContents();
    assert.deepEqual(options.map((o) => o.split(':')[0]), types, `one map per type, in the results' order: ${options}`);
    const typeOptions = options;
    assert.ok(typeOptions[0].includes('head 1-1') && typeOptions[0].includes('input 0'), typeOptions[0]);
    const cells = await ex.marks('rect.cell');
    assert.equal(cells.length, n * n);
    for (const q of cells) near(q['data-value'], mapOf.vertical(+q['data-row'], +q['data-col']), `vertical map ${q['data-row']},${q['data-col']}`, 1e-6);
    checked += n * n;
    const col0 = cells.filter((q) => q['data-col'] === '0');
    assert.ok(col0.every((q) => q.fill === col0[0].fill) && cells.find((q) => q['data-col'] === '1').fill !== col0[0].fill, 'a vertical stripe on [CLS]');
    for (const t of toks) assert.ok(ex.texts.includes(t), `token ${t} labelled`);
    const bar = (await ex.marks('g.colorbar'))[0];
    assert.deepEqual([+bar['data-lo'], +bar['data-hi']], [0, 1]);
    // The next type drawn on choosing it: the diagonal.
    await picker.selectOption({ label: typeOptions[1] });
    const diag = (await svgFacts(parser, (await download(page, ex.section.locator('button.export-svg'))).bytes.toString('utf8'), 'rect.cell')).marks;
    for (const q of diag) near(q['data-value'], mapOf.diagonal(+q['data-row'], +q['data-col']), 'diagonal map', 1e-6);
    checked += diag.length;
    await shot(page, 'patterns');
  }

  // Lu et al.: the modal pattern with its share; skip share per block per task; QoI retained.
  {
    const c = await chart('known-influence.json', 'influence.modal');
    assert.ok(c.texts.some((t) => t === `${taskNames[0]}: 10 instances`), `the task and its instances: ${c.texts}`);
    assert.ok(c.texts.includes('subject (keys) (2): 0.8') && c.texts.includes('attractor (cabinet) (5): 0.2'), `shares in the legend: ${c.texts}`);
    const edges = await c.marks('path.edge');
    assert.equal(edges.length, 8, 'two patterns of four blocks');
    assert.deepEqual(edges.slice(0, 4).map((e) => e['data-edge']), ['skip', 'skip', 'head', 'skip']);
    assert.equal(edges[2]['data-head'], '3-2');
    assert.ok(dashed(edges[0]) && !dashed(edges[2]), 'skips dashed, the head solid');
    const nodes = await c.marks('circle.node');
    assert.equal(nodes.length, 10, 'five nodes per pattern');
    const subject = nodes.slice(0, 5);
    const attractor = nodes.slice(5);
    for (const q of subject) near(q['data-influence'], 0.8, 'the subject pattern node share', 1e-9);
    for (const q of attractor) near(q['data-influence'], 0.2, 'the attractor pattern node share', 1e-9);
    // Node area grows with the share: the subject's (0.8) nodes are larger than the attractor's (0.2).
    assert.ok(+subject[0].r > +attractor[0].r, `r ${subject[0].r} vs ${attractor[0].r}`);
    near(subject[0].r, 2 + 6 * Math.sqrt(0.8 / 0.8), 'the largest share has the largest node');
    near(attractor[0].r, 2 + 6 * Math.sqrt(0.2 / 0.8), 'the smaller share in proportion');
    // Rows: the subject (position 2) to [MASK] (6) through head 3-2 at block 3.
    const ys = subject.map((q) => +q.cy);
    assert.ok(ys[0] === ys[1] && ys[1] === ys[2] && ys[3] > ys[2] && ys[3] === ys[4], `rows 2, 2, 2, 6, 6: ${ys}`);
    checked += 10;

    const t = await chart('known-influence.json', 'influence.tasks');
    assert.deepEqual(await tableRows(t), [[taskNames[0], '10', '90', '62.5', '20'], [taskNames[1], '11', '75', '50', '21']]);
    checked += 2;

    const s = await chart('known-influence.json', 'influence.skip_by_block');
    await checkLines(s, Object.fromEntries(taskNames.map((name, k) => [name, skipBy[k]])));
    assert.deepEqual((await yScale(s)).domain, [0, 1]);
    for (const name of taskNames) assert.ok(s.texts.includes(name), `task ${name} in the legend`);

    const a = await chart('known-influence.json', 'influence.ablation');
    const methods = Object.keys(retained);
    const { bars } = await checkBars(a, methods.map((m) => [m, retained[m][0]]));
    const rgb = (fill) => fill.match(/[0-9a-f]{2}/gi).map((h) => parseInt(h, 16));
    const [r0, , b0] = rgb(bars[0].fill);
    const [r1, , b1] = rgb(bars[1].fill);
    assert.ok(r0 > b0 && b1 > r1, `centred: kept QoI red, lost QoI blue (${bars[0].fill}, ${bars[1].fill})`);
    // Each method's node budget for the task beside its name.
    methods.forEach((m, k) => {
      assert.equal(bars[k]['data-note'], `${budget[m][0]} nodes`, `${m}: the node budget`);
      assert.ok(a.texts.some((x) => x.startsWith(`${m} (${budget[m][0]} nodes`)), `${m}: the budget in the label: ${a.texts}`);
    });
    // The other task: its own values and budgets.
    await a.section.locator('select[name="field"]').selectOption({ label: taskNames[1] });
    const other = (await svgFacts(parser, (await download(page, a.section.locator('button.export-svg'))).bytes.toString('utf8'), 'rect.bar')).marks;
    methods.forEach((m, k) => {
      near(other[k]['data-value'], retained[m][1], `${m} on ${taskNames[1]}`, 1e-9);
      assert.equal(other[k]['data-note'], `${budget[m][1]} nodes`);
    });
    await shot(page, 'influence');
  }

  // track: one chart per unit, each point at its step and value, targets dashed at their values.
  {
    const tdoc = JSON.parse(readFileSync(path.join(results, 'known-track.json'), 'utf8'));
    const expectIds = ['track.positional', 'track.positional_heads', 'track.sep', 'track.syntax_margin', 'track.syntax_beats', 'track.agreement'];
    assert.deepEqual(ids(tdoc), expectIds);
    for (const f of tdoc.figures) {
      const units = new Set([...f.values, ...(f.references ?? [])].map((v) => v.unit));
      assert.equal(units.size, 1, `${f.id}: one unit per chart, got ${[...units]}`);
    }
    const ref = (key) => targets[key];
    const spec = {
      'track.positional': [{ 'best head': byStep.map((r) => r.positional_best) }, [ref('positional')]],
      'track.positional_heads': [{ 'positional heads': byStep.map((r) => r.positional_heads) }, []],
      'track.sep': [{ 'layer 1': byStep.map((r) => r.sep_layer_0), 'layer 2': byStep.map((r) => r.sep_layer_1) }, [ref('sep')]],
      'track.syntax_margin': [{ 'mean over relations': byStep.map((r) => r.syntax_mean_margin) }, [ref('syntax_margin')]],
      'track.syntax_beats': [{ 'relations beaten': byStep.map((r) => r.syntax_beats) }, [ref('syntax_relations')]],
      'track.agreement': [{ 'simple_agrmt.sample': byStep.map((r) => r.agreement_simple_agrmt_sample) }, [ref('agreement'), ref('chance')]],
    };
    for (const id of expectIds) {
      const c = await chart('known-track.json', id);
      const [series, lines] = spec[id];
      const { y, points } = await checkLines(c, series);
      // x at the step: 100, 200, 600 leave gaps of 1 and 4.
      const one = points.filter((p) => p['data-series'] === Object.keys(series)[0]).sort((p, q) => +p['data-index'] - +q['data-index']);
      const g1 = +one[1].cx - +one[0].cx;
      const g2 = +one[2].cx - +one[1].cx;
      assert.ok(g1 > 0 && close(g2, 4 * g1), `${id}: placed by step, gaps ${g1} and ${g2}`);
      const refs = await c.marks('line.reference-line');
      assert.equal(refs.length, lines.length, `${id}: target lines`);
      lines.forEach((v, k) => {
        assert.ok(dashed(refs[k]), `${id}: target ${v} dashed`);
        near(refs[k].y1, y(v), `${id}: target at ${v}`);
        checked++;
      });
      assert.ok(c.texts.includes('training step'), `${id}: the x axis is the step`);
    }
    await shot(page, 'track');
  }

  assert.deepEqual(problems, []);
  console.log(`browser_report_known: ${charts.size} figures checked on known data (${[...charts].join(', ')}), ` +
    `${checked} marks/cells; ${((Date.now() - started) / 1000).toFixed(1)} s; all checks passed`);
} finally {
  if (browser) await browser.close();
  cleanup(dir);
}

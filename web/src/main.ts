// Entry point. The page says what it is in <script id="bertscope-config" type="application/json">:
//   {"mode": "serve"}                                   the local web app of `bertscope serve`
//   {"mode": "report", "documents": [...], "summary": {...}}
//                                                       `bertscope report`, data and findings embedded
//   {"mode": "figure", "documents": [one], "figure": {view, settings, format, scale}}
//                                                       one chart rendered headless for `bertscope figure`
import './style.css';
import { runFigure, type FigureRequest } from './ui/figure';
import { runReport, type ReportSummary } from './ui/report';
import { runServe } from './ui/serve';

export interface EmbeddedDocument {
  name: string;
  json: unknown;
}

interface Config {
  mode: 'serve' | 'report' | 'figure';
  title?: string;
  documents?: EmbeddedDocument[];
  figure?: FigureRequest;
  summary?: ReportSummary;
}

function readConfig(): Config {
  const node = document.getElementById('bertscope-config');
  if (!node || !node.textContent) return { mode: 'serve' };
  return JSON.parse(node.textContent) as Config;
}

function main(): void {
  const cfg = readConfig();
  const root = document.getElementById('app') ?? document.body;
  if (cfg.mode === 'figure') runFigure(cfg.documents ?? [], cfg.figure);
  else if (cfg.mode === 'report') runReport(root, cfg.title ?? 'bertscope report', cfg.documents ?? [], cfg.summary);
  else void runServe(root);
}

main();

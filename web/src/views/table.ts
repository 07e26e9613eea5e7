// Tables of flat records (relations with their best head and baselines, per-head lists, ...).
// On the page they are HTML (selectable, sortable by clicking a header); exported figures
// draw the same rows through the painter.
import { isNumber, type Scalar } from '../data/shapes';
import { fitLabel, formatValue, paintTitle, titleWidth } from '../render/guides';
import { textWidth, type Painter } from '../render/painter';
import { View, choice, type Figure } from './view';

const ROW = 20;
const MAX_COL = 220;

export function cellText(v: Scalar | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'number') return formatValue(v);
  return String(v);
}

export class TableView extends View {
  constructor(
    readonly id: string,
    readonly title: string,
    private readonly rows: Record<string, Scalar>[],
    readonly columns: string[],
  ) {
    super();
    this.define({
      name: 'sort',
      label: 'sort by',
      type: 'choice',
      options: [{ value: '', label: '(as given)' }, ...choice(columns)],
      initial: '',
    });
    this.define({ name: 'order', label: 'order', type: 'choice', options: choice(['asc', 'desc']), initial: 'desc' });
    this.define({ name: 'rows', label: 'rows', type: 'int', min: 1, initial: String(rows.length) });
  }

  sortedRows(): Record<string, Scalar>[] {
    const col = this.get('sort');
    const out = [...this.rows];
    if (col) {
      const dir = this.get('order') === 'asc' ? 1 : -1;
      out.sort((a, b) => dir * compare(a[col], b[col]));
    }
    return out.slice(0, this.getInt('rows'));
  }

  // Sorts by `col`, flipping the order when it is already the sort column (header clicks).
  toggleSort(col: string): void {
    if (this.get('sort') === col) this.set('order', this.get('order') === 'asc' ? 'desc' : 'asc');
    else {
      this.set('sort', col);
      this.set('order', 'desc');
    }
  }

  figure(): Figure {
    const rows = this.sortedRows();
    const widths = this.columns.map((c) => {
      let w = textWidth(c, { size: 11, weight: 'bold' });
      for (const r of rows) w = Math.max(w, textWidth(cellText(r[c]), { size: 11 }));
      return Math.min(MAX_COL, Math.ceil(w) + 16);
    });
    const xs: number[] = [];
    let acc = 8;
    for (const w of widths) {
      xs.push(acc);
      acc += w;
    }
    const top = 32;
    const width = Math.max(acc + 8, titleWidth(this.title));
    const height = top + (rows.length + 1) * ROW + 8;
    const numeric = this.columns.map((c) => rows.some((r) => isNumber(r[c])));
    return {
      width,
      height,
      paint: (p: Painter) => {
        paintTitle(p, 8, 6, this.title);
        p.rect(8, top, acc - 8, ROW, { fill: '#f0f0f0' });
        this.columns.forEach((c, k) => {
          p.text(numeric[k] ? xs[k] + widths[k] - 8 : xs[k] + 6, top + ROW / 2, fitLabel(c, widths[k] - 10, 11), {
            size: 11,
            weight: 'bold',
            anchor: numeric[k] ? 'end' : 'start',
            baseline: 'middle',
          });
        });
        rows.forEach((r, i) => {
          const y = top + (i + 1) * ROW;
          p.group('row', { index: i }, () => {
            p.rect(8, y, acc - 8, ROW, { fill: i % 2 ? '#fafafa' : '#ffffff', cls: 'table-row' });
            this.columns.forEach((c, k) => {
              p.text(numeric[k] ? xs[k] + widths[k] - 8 : xs[k] + 6, y + ROW / 2, fitLabel(cellText(r[c]), widths[k] - 10, 11), {
                size: 11,
                anchor: numeric[k] ? 'end' : 'start',
                baseline: 'middle',
                mono: numeric[k],
              });
            });
          });
        });
        p.line(8, top + ROW, acc, top + ROW, { stroke: '#999' });
      },
    };
  }

  csv(): string {
    const esc = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    const lines = [this.columns.map(esc).join(',')];
    for (const r of this.sortedRows()) {
      lines.push(this.columns.map((c) => esc(r[c] === undefined || r[c] === null ? '' : String(r[c]))).join(','));
    }
    return lines.join('\n') + '\n';
  }
}

function compare(a: Scalar | undefined, b: Scalar | undefined): number {
  const missingA = a === undefined || a === null;
  const missingB = b === undefined || b === null;
  if (missingA || missingB) return missingA === missingB ? 0 : missingA ? -1 : 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

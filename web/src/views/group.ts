// One chart for a family of look-alike parts of a document, e.g. results.features.<feature> or
// results.links.<link>, each with the same shapes inside: the setting `key` picks the member,
// every other setting is the member's own. Keeps a document with 8 features from turning into
// 40 charts.
import type { ParamDef, PointerEvent2 } from './view';
import { View, choice, type Figure } from './view';

export class GroupView extends View {
  private version = 0;

  constructor(
    readonly id: string,
    readonly title: string,
    private readonly members: Map<string, View>,
  ) {
    super();
    this.define({ name: 'key', label: 'which', type: 'choice', options: choice([...members.keys()]), initial: [...members.keys()][0] });
    this.syncParams();
  }

  current(): View {
    return this.members.get(super.get('key'))!;
  }

  // The member's settings follow `key` in the list of parameters.
  private syncParams(): void {
    const own = this.params[0];
    this.params.length = 0;
    this.params.push(own, ...this.current().params);
    this.version++;
  }

  override paramsVersion(): number {
    return this.version;
  }

  override param(name: string): ParamDef | undefined {
    return name === 'key' ? this.params[0] : this.current().param(name);
  }

  override get(name: string): string {
    return name === 'key' ? super.get('key') : this.current().get(name);
  }

  override set(name: string, value: string): void {
    if (name !== 'key') {
      this.current().set(name, value);
      return;
    }
    const prev = this.current();
    const before = prev.settings();
    super.set('key', value);
    // Carry over the settings the user changed (not the previous member's defaults, such as
    // its number of rows) where the new member has them and accepts the value.
    const next = this.current();
    for (const [k, v] of Object.entries(before)) {
      if (!next.param(k) || prev.param(k)?.initial === v) continue;
      try {
        next.set(k, v);
      } catch {
        // This member does not offer that value (another list of fields): keep its own.
      }
    }
    this.syncParams();
  }

  override settings(): Record<string, string> {
    return { key: super.get('key'), ...this.current().settings() };
  }

  figure(): Figure {
    return this.current().figure();
  }

  override pointer(e: PointerEvent2): boolean {
    return this.current().pointer(e);
  }

  override tooltip(x: number, y: number): string | null {
    return this.current().tooltip(x, y);
  }

  override describe(): Record<string, string | number> {
    return this.current().describe();
  }
}

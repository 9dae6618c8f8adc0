/** Recent instructions, remembered across sessions (most recent first). */
export interface Memento {
  get<T>(key: string, defaultValue: T): T;
  update(key: string, value: unknown): Thenable<void>;
}

export const HISTORY_KEY = 'starcoder.recentInstructions';
export const HISTORY_MAX = 30;

export class InstructionHistory {
  constructor(
    private readonly memento: Memento,
    private readonly max = HISTORY_MAX,
  ) {}

  recent(): string[] {
    const raw = this.memento.get<unknown>(HISTORY_KEY, []);
    return Array.isArray(raw) ? raw.filter((x): x is string => typeof x === 'string' && x.trim() !== '') : [];
  }

  async add(instruction: string): Promise<void> {
    const value = instruction.trim();
    if (!value) return;
    const next = [value, ...this.recent().filter((x) => x !== value)].slice(0, this.max);
    await this.memento.update(HISTORY_KEY, next);
  }

  async clear(): Promise<void> {
    await this.memento.update(HISTORY_KEY, []);
  }
}

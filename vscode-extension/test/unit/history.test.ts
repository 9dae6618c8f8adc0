import { describe, expect, it } from 'vitest';
import { HISTORY_KEY, InstructionHistory } from '../../src/history';

function memento() {
  const store = new Map<string, unknown>();
  return {
    store,
    get: <T>(k: string, d: T) => (store.has(k) ? (store.get(k) as T) : d),
    update: async (k: string, v: unknown) => void store.set(k, v),
  };
}

describe('InstructionHistory', () => {
  it('keeps recent instructions first, without duplicates, bounded', async () => {
    const m = memento();
    const h = new InstructionHistory(m, 3);
    for (const x of ['a', 'b', 'a', 'c', 'd', '  ']) await h.add(x);
    expect(h.recent()).toEqual(['d', 'c', 'a']);
    await h.clear();
    expect(h.recent()).toEqual([]);
  });
  it('ignores corrupt stored values', () => {
    const m = memento();
    m.store.set(HISTORY_KEY, ['ok', 3, null, '']);
    expect(new InstructionHistory(m).recent()).toEqual(['ok']);
    m.store.set(HISTORY_KEY, 'nope');
    expect(new InstructionHistory(m).recent()).toEqual([]);
  });
});

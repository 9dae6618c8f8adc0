import { describe, expect, it } from 'vitest';
import { StatusBar, renderStatus } from '../../src/status';
import { mock } from './vscode-mock';

describe('renderStatus', () => {
  it('shows download percentage', () => {
    const r = renderStatus({ state: 'downloading', message: 'model.gguf', progress: 42.4 });
    expect(r.text).toContain('42%');
    expect(r.tooltip).toContain('model.gguf');
  });
  it('shows tokens per second while generating', () => {
    expect(renderStatus({ state: 'generating', message: '', tokensPerSecond: 31.25 }).text).toContain('31.3 tok/s');
  });
  it('shows loading, ready with the model, and idle', () => {
    expect(renderStatus({ state: 'loading', message: '' }).text).toMatch(/loading/);
    expect(renderStatus({ state: 'ready', message: '', model: 'tiny', backend: 'llama.cpp' }).tooltip).toContain('tiny (llama.cpp)');
    expect(renderStatus({ state: 'idle', message: '' }).tooltip).toMatch(/first use/);
  });
  it('shows errors with their message and the error colour', () => {
    const r = renderStatus({ state: 'error', message: 'out of memory' });
    expect(r.error).toBe(true);
    expect(r.tooltip).toContain('out of memory');
  });
  it('shows client states', () => {
    expect(renderStatus('missing').warning).toBe(true);
    expect(renderStatus('starting').text).toContain('StarCoder');
    expect(renderStatus('stopped').tooltip).toMatch(/stopped/);
  });
});

describe('StatusBar', () => {
  it('updates the item and its background', () => {
    mock.reset();
    const bar = new StatusBar('starcoder.showMenu');
    const item = mock.statusItems[0];
    expect(item.command).toBe('starcoder.showMenu');
    expect(item.show).toHaveBeenCalled();
    bar.set({ state: 'error', message: 'x' });
    expect(item.backgroundColor?.id).toBe('statusBarItem.errorBackground');
    bar.set({ state: 'ready', message: '' });
    expect(item.backgroundColor).toBeUndefined();
    expect(bar.state).toEqual({ state: 'ready', message: '' });
    bar.dispose();
    expect(item.dispose).toHaveBeenCalled();
  });
});

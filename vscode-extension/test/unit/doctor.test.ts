import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { DOCTOR_SCHEME, DoctorFlow, type DoctorHost } from '../../src/doctor';
import { doctorCommand, findingsMarkdown } from '../../src/doctor/report';
import { parseDoctorResult } from '../../src/protocol';
import type { ServerCommand } from '../../src/server';
import { SetupFlow } from '../../src/setup/flow';
import { mock } from './vscode-mock';

const SERVER_REPORT = {
  ok: false,
  summary: '1 check failed: FIM tokens.',
  markdown: '# StarCoder doctor\n\n**1 check failed: FIM tokens.**\n\n- ✘ **FIM tokens**: none\n  - **Fix:** set completionModel\n',
  checks: [{ name: 'FIM tokens', status: 'fail', detail: 'none', fix: 'set completionModel', block: '', mark: '✘' }],
};

function host(over: Partial<DoctorHost> = {}): DoctorHost {
  const setup = new SetupFlow({
    storageDir: undefined,
    extensionPath: undefined,
    output: {} as any,
    restartServer: async () => undefined,
    stopServer: async () => undefined,
    pythonExtensionInterpreter: async () => undefined,
  });
  return {
    client: async () => undefined,
    serverCommand: () => undefined,
    find: async () => ({ ok: false, message: 'not found', notes: ['starcoder-lsp is not on PATH', 'no server was set up by Set up StarCoder'], reason: 'not-found' }),
    settings: () => ({ model: '/m/x.gguf', endpoint: 'http://team:8000/v1', apiKey: 'sk-secret', maxTokens: 10 }),
    serverEnv: () => ({}),
    setup,
    log: vi.fn(),
    ...over,
  };
}

beforeEach(() => mock.reset());

describe('the doctor in VS Code', () => {
  it('shows the server\'s own report (starcoder/doctor) as Markdown', async () => {
    const sendRequest = vi.fn(async () => SERVER_REPORT);
    const doctor = new DoctorFlow(host({ client: async () => ({ sendRequest }) as any }));
    const outcome = await doctor.run();
    expect(sendRequest).toHaveBeenCalledWith('starcoder/doctor', {});
    expect(outcome).toMatchObject({ status: 'shown', source: 'server', ok: false, markdown: SERVER_REPORT.markdown });
    const shown = mock.executed.find((e) => e.command === 'markdown.showPreview');
    expect(String(shown?.args[0])).toMatch(new RegExp(`^${DOCTOR_SCHEME}:/StarCoder%20doctor%201\\.md$`));
    expect(doctor.docs.get(shown!.args[0] as any)).toBe(SERVER_REPORT.markdown);
    expect(mock.progress[0].title).toBe('StarCoder: running the doctor…');
    doctor.dispose();
  });

  it.skipIf(process.platform === 'win32')('runs the CLI doctor with the same settings when the server does not start', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sc-doctor-'));
    const program = path.join(dir, 'starcoder-lsp');
    // A stand-in for the real CLI: echoes its arguments and the key it got, fails like a ✘.
    fs.writeFileSync(program, '#!/bin/sh\nprintf "# StarCoder doctor\\n\\nargs: %s\\nkey: %s\\n" "$*" "$STARCODER_API_KEY"\nexit 1\n', { mode: 0o755 });
    const server: ServerCommand = { command: program, args: ['--stdio'], source: 'setting', description: program };
    const doctor = new DoctorFlow(host({ serverCommand: () => server }));
    const outcome = await doctor.run();
    expect(outcome).toMatchObject({ status: 'shown', source: 'cli', ok: false });
    const markdown = outcome.status === 'shown' ? outcome.markdown : '';
    expect(markdown).toContain('args: doctor --format markdown --model /m/x.gguf --endpoint http://team:8000/v1');
    expect(markdown).toContain('key: sk-secret');
    doctor.dispose();
  });

  it('with no server at all, reports what was searched and what to do', async () => {
    const doctor = new DoctorFlow(host());
    const outcome = await doctor.run();
    expect(outcome).toMatchObject({ status: 'shown', source: 'extension', ok: false });
    const markdown = outcome.status === 'shown' ? outcome.markdown : '';
    expect(markdown).toMatch(/^# StarCoder doctor\n\n\*\*\d checks? failed: server/);
    expect(markdown).toContain('- ✘ **server**: not found (starcoder-lsp is not on PATH; no server was set up by Set up StarCoder)');
    expect(markdown).toContain('  - **Fix:** run **Set up StarCoder** (Command Palette)');
    expect(markdown).toContain('- ✘ **bundled server**: this copy of the extension carries no server wheel');
    doctor.dispose();
  });
});

describe('the doctor\'s parts', () => {
  it('maps the settings onto the CLI\'s flags, through python -m when found that way', () => {
    const viaPython: ServerCommand = { command: '/venv/bin/python', args: ['-m', 'lsp_server', '--stdio'], source: 'python-setting', description: '' };
    const c = doctorCommand(viaPython, { model: 'starcoder2-3b', backend: 'llama.cpp', completionModel: 'auto', nCtx: 4096, endpoint: '', temperature: 0 });
    expect(c).toEqual({
      command: '/venv/bin/python',
      args: ['-m', 'lsp_server', 'doctor', '--format', 'markdown', '--model', 'starcoder2-3b', '--backend', 'llama.cpp', '--completion-model', 'auto', '--n-ctx', '4096'],
      env: {},
    });
  });

  it('writes findings in the server report\'s format', () => {
    expect(findingsMarkdown([{ ok: true, name: 'a', detail: 'fine' }, { ok: false, name: 'b', detail: 'broken', fix: 'mend it' }])).toBe(
      '# StarCoder doctor\n\n**1 check failed: b.**\n\n- ✔ **a**: fine\n- ✘ **b**: broken\n  - **Fix:** mend it\n',
    );
  });

  it('validates the server\'s answer', () => {
    expect(parseDoctorResult(SERVER_REPORT)).toMatchObject({ ok: false, checks: [{ name: 'FIM tokens', status: 'fail', fix: 'set completionModel' }] });
    expect(() => parseDoctorResult({ ok: true })).toThrow(/starcoder\/doctor must return/);
  });
});

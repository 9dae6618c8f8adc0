/**
 * What a failed set-up step means, in plain words: no network or a proxy in the way, a
 * compiler missing for llama.cpp, or else pip's own last error line.
 */
import type { RunResult } from './process';
import { PHASE_NAMES, type Step } from './steps';

export type FailureKind = 'proxy' | 'offline' | 'build' | 'other';

export interface Failure {
  kind: FailureKind;
  /** "installing the server failed: …" */
  message: string;
}

const PROXY = /ProxyError|Cannot connect to proxy|407 Proxy Authentication|Tunnel connection failed/i;
const OFFLINE =
  /NewConnectionError|Failed to establish a new connection|Temporary failure in name resolution|Name or service not known|nodename nor servname|getaddrinfo failed|Network is unreachable|No route to host|ConnectTimeoutError|Read timed out|Connection reset by peer|CERTIFICATE_VERIFY_FAILED|SSLError/i;
const NOT_FOUND = /Could not find a version that satisfies the requirement|No matching distribution found/i;
const BUILD = /Failed building wheel|Failed to build installable wheels|CMake Error|CMAKE_C_COMPILER|CMAKE_CXX_COMPILER|No CMAKE_.*_COMPILER|error: command '.*' failed|ninja: build stopped|compiler.*not found/i;

/** The most telling line of pip's output. */
export function lastError(tail: string[]): string {
  const error = [...tail].reverse().find((l) => /^\s*(ERROR|error)[:\s]/.test(l) && !/^\s*ERROR: Exception:?$/.test(l));
  return (error ?? tail.at(-1) ?? '').trim().replace(/^ERROR:\s*/, '');
}

export function explainFailure(step: Step, result: RunResult): Failure {
  const what = `${PHASE_NAMES[step.phase]} failed`;
  if (result.spawnError) {
    return { kind: 'other', message: `${what}: ${step.command} could not be started (${result.spawnError}).` };
  }
  const output = result.tail.join('\n');
  const detail = lastError(result.tail);
  if (PROXY.test(output)) {
    return {
      kind: 'proxy',
      message:
        `${what}: pip could not get through the proxy (${detail}). Set HTTPS_PROXY (pip reads it), ` +
        "or pip's own proxy setting (pip config set global.proxy URL), then Retry.",
    };
  }
  if (OFFLINE.test(output) || (NOT_FOUND.test(output) && /from versions: none/.test(output))) {
    return {
      kind: 'offline',
      message:
        `${what}: pip could not download packages; this machine seems to be offline or cannot reach the ` +
        `package index (${detail}). Connect to the network (or set HTTPS_PROXY), then Retry; offline, point ` +
        'pip at a folder of wheels (PIP_FIND_LINKS with PIP_NO_INDEX=1).',
    };
  }
  if (step.phase === 'llama' && BUILD.test(output)) {
    return {
      kind: 'build',
      message:
        `${what}: compiling llama.cpp needs a C/C++ compiler and CMake (Debian/Ubuntu: sudo apt install ` +
        `build-essential cmake; macOS: xcode-select --install; Windows: Visual Studio Build Tools). (${detail}) ` +
        'Or choose the thin set-up and use a team server (starcoder.endpoint).',
    };
  }
  const code = result.signal ? `signal ${result.signal}` : `exit status ${result.code}`;
  return { kind: 'other', message: `${what} (${code}): ${detail || 'see the StarCoder output for the log'}` };
}

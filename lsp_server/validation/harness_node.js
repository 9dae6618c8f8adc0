// Runs the tests of one candidate inside the sandbox, under node (see harness_python.py,
// its Python twin). The candidate file is evaluated once in a fresh context; each test
// then runs in that context, so it sees the file's top-level functions and constants,
// with `assert` (node:assert) in scope and its own time limit. Each result is appended to
// results.jsonl as soon as it is known, after a "start" line.
'use strict';
const fs = require('node:fs');
const vm = require('node:vm');
const nodeModule = require('node:module');

const OUTPUT_CAP = 4000;
const spec = JSON.parse(fs.readFileSync('tests.json', 'utf8'));
const perTestMs = Math.round((spec.per_test_s || 5) * 1000);

function record(data) {
  fs.appendFileSync('results.jsonl', JSON.stringify(data) + '\n');
}

function cap(text) {
  return text.length <= OUTPUT_CAP ? text : text.slice(0, OUTPUT_CAP) + '\n[…]';
}

// A script, not a module: `export` keywords go, simple imports become require().
function asScript(source) {
  return source
    .replace(/^\s*import\s+(\w+)\s+from\s+(['"][^'"]+['"]);?/gm, 'const $1 = require($2);')
    .replace(/^\s*import\s+\*\s+as\s+(\w+)\s+from\s+(['"][^'"]+['"]);?/gm, 'const $1 = require($2);')
    .replace(/^\s*import\s+\{([^}]*)\}\s+from\s+(['"][^'"]+['"]);?/gm,
      (_m, names, from) => `const {${names.replace(/\s+as\s+/g, ': ')}} = require(${from});`)
    .replace(/^(\s*)export\s+default\s+/gm, '$1')
    .replace(/^(\s*)export\s+(?=(async\s+)?function|const|let|var|class)/gm, '$1');
}

let out = '';
const sink = (...args) => {
  out += args.map((a) => (typeof a === 'string' ? a : require('node:util').inspect(a))).join(' ') + '\n';
};
const fakeConsole = { log: sink, info: sink, warn: sink, error: sink, debug: sink };
const context = vm.createContext({
  require, console: fakeConsole, module: { exports: {} }, exports: {},
  assert: require('node:assert'), setTimeout, clearTimeout, process: { env: {}, argv: [] },
});

let source = fs.readFileSync(spec.file, 'utf8');
if (/\.(ts|tsx|mts|cts)$/.test(spec.file)) {
  source = nodeModule.stripTypeScriptTypes(source);
}
try {
  vm.runInContext(asScript(source), context, { filename: spec.file, timeout: perTestMs });
} catch (err) {
  record({ load_error: cap(out + String((err && err.stack) || err)) });
  process.exit(0);
}
spec.tests.forEach((test, index) => {
  record({ start: index });
  out = '';
  let passed = true;
  try {
    vm.runInContext(`(function () {\n${test.source}\n})();`, context, { filename: test.name, timeout: perTestMs });
  } catch (err) {
    passed = false;
    out += String((err && err.message) || err);
  }
  record({ index, passed, output: cap(out.trim()) });
});

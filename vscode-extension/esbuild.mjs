// Bundles the extension (and its in-editor test suite) with esbuild.
//   node esbuild.mjs [--production] [--watch]
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['vscode'],
  sourcemap: !production,
  minify: production,
  logLevel: 'info',
};

const builds = [
  { ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js' },
  // The chat view's page (a browser context: no Node, no vscode) and its stylesheet.
  { ...common, platform: 'browser', format: 'iife', target: 'es2022', external: [], entryPoints: ['src/chat/webview/main.ts'], outfile: 'dist/chat/webview.js' },
  { ...common, platform: 'browser', external: [], entryPoints: ['src/chat/webview/style.css'], outfile: 'dist/chat/webview.css' },
];
if (!production) {
  // The suite that runs inside VS Code's extension host (test/e2e/suite).
  builds.push({ ...common, entryPoints: ['test/e2e/suite/index.ts'], outfile: 'dist/test/suite/index.js' });
}

if (watch) {
  for (const options of builds) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
  }
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}

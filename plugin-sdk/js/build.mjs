#!/usr/bin/env node
// p2pmon-plugin-build SOURCE.js -o plugin.wasm [--wit DIR]
//
// Builds a JavaScript plugin into a WebAssembly component for the p2pmon
// agent with componentize-js. The plugin's `@p2pmon/plugin` import is
// resolved to this SDK; fetch() is left out (the agent provides no
// wasi:http: a plugin reaches the network only through the `net` and `http`
// capabilities it is granted).

import { copyFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function usage(message) {
  if (message) console.error(`p2pmon-plugin-build: ${message}`);
  console.error('usage: p2pmon-plugin-build SOURCE.js -o plugin.wasm [--wit DIR]');
  process.exit(2);
}

const args = process.argv.slice(2);
let source;
let output;
let wit = process.env.P2PMON_WIT || join(here, '..', 'wit');
for (let i = 0; i < args.length; i++) {
  if (args[i] === '-o' || args[i] === '--output') output = args[++i];
  else if (args[i] === '--wit') wit = args[++i];
  else if (args[i] === '-h' || args[i] === '--help') usage();
  else if (!source) source = args[i];
  else usage(`unexpected argument ${args[i]}`);
}
if (!source || !output) usage();
source = resolve(source);
wit = resolve(wit);
try {
  await stat(join(wit, 'plugin.wit'));
} catch {
  usage(`no plugin.wit in ${wit} (give the contract's folder with --wit or P2PMON_WIT)`);
}

const { componentize } = await import('@bytecodealliance/componentize-js');

// Stage the plugin's folder with the SDK next to it, so the engine resolves
// every import by relative path.
const stage = await mkdtemp(join(tmpdir(), 'p2pmon-js-'));
try {
  const sdkName = '__p2pmon_plugin.js';
  await copyFile(join(here, 'index.js'), join(stage, sdkName));
  for (const name of await readdir(dirname(source))) {
    if (!/\.(m?js)$/.test(name)) continue;
    const text = await readFile(join(dirname(source), name), 'utf8');
    const rewritten = text.replace(/(['"])@p2pmon\/plugin\1/g, `'./${sdkName}'`);
    await writeFile(join(stage, name), rewritten);
  }
  const { component } = await componentize({
    sourcePath: join(stage, basename(source)),
    witPath: wit,
    worldName: 'plugin',
    disableFeatures: ['http', 'fetch-event'],
  });
  const partial = `${output}.partial`;
  await writeFile(partial, component);
  await import('node:fs/promises').then((fs) => fs.rename(partial, output));
  console.log(`${output} (${component.length} bytes)`);
} finally {
  await rm(stage, { recursive: true, force: true });
}

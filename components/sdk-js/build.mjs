#!/usr/bin/env node
// Builds a JavaScript component with componentize-js.
//
//   node sdk-js/build.mjs <app.js> -o <out.wasm> [--world tool-only] [--fetch] [--force]
//
//   --world  a world of `spaceport:platform`: tool-only (default),
//            http-component or tool-component
//   --fetch  keep outbound `fetch()` in a tool-only component (it also needs
//            `allowed_outbound_hosts` in the manifest); HTTP worlds always have it
//   --force  build even when nothing changed
//
// componentize-js builds are not reproducible (the engine snapshot differs
// from run to run), and every new .wasm makes the host recompile it, so a
// build whose inputs are unchanged is skipped: `<out>.inputs` holds a digest
// of the app's directory, sdk-js/, wit/, the toolchain version and options.
//
// componentize-js is found at $COMPONENTIZE_JS (its package directory), else
// where scripts/componentize.sh installs the pinned 0.23.0 (which also runs
// this script). The WIT is `components/target/js-wit/`, written by wit.mjs
// first (the platform package with the engine's WASI release).

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { WIT_DIR, componentizeDir, engineWasiVersion, writeWit } from './wit.mjs';

const SELF = realpathSync(fileURLToPath(import.meta.url));
const INVOKED = process.argv[1] ? resolve(process.argv[1]) : '';
// Run as a script, also through a symlink (a project that links sdk-js/ in):
// Node reports this module by its real path, argv[1] by the linked one.
const IS_MAIN = INVOKED !== '' && existsSync(INVOKED) && realpathSync(INVOKED) === SELF;
// The SDK as the app sees it: `../sdk-js/spaceport.js` resolves against the
// linked path, so the build's root must contain that one, not the real one.
const SDK_DIR = IS_MAIN ? dirname(INVOKED) : dirname(SELF);
const WORLDS = ['tool-only', 'http-component', 'tool-component'];

/** The deepest directory containing both paths. */
function commonDir(a, b) {
  const x = a.split(sep);
  const y = b.split(sep);
  let i = 0;
  while (i < x.length && i < y.length && x[i] === y[i]) i++;
  return x.slice(0, i).join(sep) || sep;
}

/** A digest of what a build reads: the JS and WIT under `dirs` and `extra`. */
function inputsDigest(dirs, extra) {
  const files = new Set();
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && /\.(m?js|json|wit)$/.test(entry.name)) files.add(path);
    }
  };
  dirs.forEach(walk);
  const hash = createHash('sha256').update(JSON.stringify(extra));
  for (const file of [...files].sort()) hash.update(`\0${file}\0`).update(readFileSync(file));
  return hash.digest('hex');
}

function parseArgs(argv) {
  const opts = { world: 'tool-only', fetch: false, force: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-o' || a === '--out') opts.out = argv[++i];
    else if (a === '-w' || a === '--world') opts.world = argv[++i];
    else if (a === '--fetch') opts.fetch = true;
    else if (a === '--force') opts.force = true;
    else if (a.startsWith('-')) throw new Error(`unknown option \`${a}\``);
    else if (opts.source) throw new Error(`one source file only (got \`${opts.source}\` and \`${a}\`)`);
    else opts.source = a;
  }
  if (!opts.source || !opts.out) throw new Error('usage: build.mjs <app.js> -o <out.wasm> [--world tool-only] [--fetch]');
  opts.world = opts.world.replace(/^spaceport:platform\//, '');
  if (!WORLDS.includes(opts.world)) {
    throw new Error(`unknown world \`${opts.world}\`; expected one of: ${WORLDS.join(', ')}`);
  }
  return opts;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const cwd = process.cwd();
  const source = resolve(opts.source);
  const out = resolve(opts.out);
  const started = Date.now();

  const dir = componentizeDir();
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const wasi = engineWasiVersion(dir);

  const stamp = `${out}.inputs`;
  const digest = inputsDigest([dirname(source), SDK_DIR, WIT_DIR], { version, wasi, source, opts });
  if (!opts.force && existsSync(out) && existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) {
    console.log(`${relative(cwd, out)} is up to date`);
    return;
  }
  const wit = writeWit(wasi);

  // A tool-only component has no HTTP handler; without outbound fetch it
  // needs no wasi:http at all, so it imports only what the host grants.
  const http = opts.world !== 'tool-only';
  const disableFeatures = http || opts.fetch ? [] : ['http', 'fetch-event'];

  // componentize-js maps the current directory to `/` inside the build when
  // the source is below it, so relative imports (`../sdk-js/spaceport.js`)
  // resolve only within it: start from the directory holding both.
  // componentize-js cannot map `/` itself (it cuts the source path wrongly):
  // a source with nothing but `/` in common with sdk-js/ gets its own
  // directory, and imports the SDK from a copy of spaceport.js in it.
  const root = commonDir(dirname(source), SDK_DIR);
  process.chdir(root === sep ? dirname(source) : root);

  const { componentize } = await import(pathToFileURL(join(dir, 'src/componentize.js')));
  const { component } = await componentize({
    sourcePath: source,
    witPath: wit,
    worldName: `spaceport:platform/${opts.world}`,
    disableFeatures,
  });
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, component);
  writeFileSync(stamp, digest);

  const mb = (statSync(out).size / 1048576).toFixed(1);
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    `built ${relative(cwd, out)} (${mb} MiB, world ${opts.world}, WASI ${wasi}, ` +
      `componentize-js ${version}) in ${secs}s`,
  );
}

if (IS_MAIN) {
  main().catch((e) => {
    console.error(`error: ${e.message ?? e}`);
    process.exit(1);
  });
}

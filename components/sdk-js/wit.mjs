#!/usr/bin/env node
// Writes the WIT that JavaScript components build against: the platform
// package from `wit/` with its WASI dependencies rewritten to the WASI
// release componentize-js's engine (StarlingMonkey) was built for.
//
// Why: componentize-js 0.23 embeds StarlingMonkey built against WASI 0.2.10.
// Its built-in `fetch` event handler exports
// `wasi:http/incoming-handler@0.2.10`, so building an HTTP world from our
// WASI 0.2.12 WIT fails with "failed to find export of interface
// `wasi:http/incoming-handler@0.2.12` function `handle`". The npm package
// ships no WIT text for 0.2.10 (StarlingMonkey's WIT is only inside the
// engine's binary metadata), so the older release is derived from the
// vendored one: WASI 0.2.x only ever adds items, each gated with
// `@since(version = …)`, so dropping the items newer than the target and
// renaming the version gives that release's interfaces.
//
// Usage: node wit.mjs [--wasi 0.2.10] [--out DIR]
//   --wasi  the WASI release (default: the one the installed engine exports)
//   --out   where to write (default: components/target/js-wit/wasi-<release>-<digest>)
// The host links any WASI 0.2.x import by semver, so the result runs as is.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, writeFileSync, readdirSync, mkdirSync, rmSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const WIT_DIR = resolve(here, '../../wit');
export const DEFAULT_OUT = resolve(here, '../target/js-wit');

const parseVersion = (v) => {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  if (!m) throw new Error(`not a WASI version: \`${v}\` (expected e.g. 0.2.10)`);
  return m.slice(1).map(Number);
};
const compare = (a, b) => {
  const [x, y] = [parseVersion(a), parseVersion(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
};

// `wasi:http/types@0.2.12`, `package wasi:io@0.2.12`, `wasi:http/proxy@0.2.12`.
const WASI_REF = /\b(wasi:[a-z][a-z0-9-]*(?:\/[a-z][a-z0-9-]*)?)@(\d+\.\d+\.\d+)/g;

/** The end (exclusive) of the WIT item starting at `start`: a `;` or the
 * `}` that closes its block, ignoring comments. */
function itemEnd(text, start) {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    if (text.startsWith('//', i)) {
      i = text.indexOf('\n', i);
      if (i < 0) break;
      continue;
    }
    const c = text[i];
    if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i + 1;
    else if (c === ';' && depth === 0) return i + 1;
  }
  throw new Error(`unterminated WIT item at offset ${start}`);
}

/** Remove every item gated `@since(version = v)` with v newer than `target`,
 * with its doc comment and other attributes. */
function dropNewerItems(text, target) {
  const since = /@since\(version\s*=\s*(\d+\.\d+\.\d+)\)/g;
  let out = '';
  let done = 0; // text before this offset is already in `out`
  for (let m; (m = since.exec(text)); ) {
    if (m.index < done || compare(m[1], target) <= 0) continue;
    // Back up over the lines of doc comments and attributes above the gate.
    let from = text.lastIndexOf('\n', m.index - 1) + 1;
    while (from > 0) {
      const prev = text.lastIndexOf('\n', from - 2) + 1;
      const line = text.slice(prev, from).trim();
      if (!line.startsWith('///') && !line.startsWith('@')) break;
      from = prev;
    }
    // Skip the gate and any attributes below it, then the item itself.
    let at = m.index;
    for (let a; (a = /^\s*@[a-z]+\([^)]*\)/.exec(text.slice(at))); ) at += a[0].length;
    let to = itemEnd(text, at);
    if (text[to] === '\n') to++;
    out += text.slice(done, from);
    done = to;
    since.lastIndex = to;
  }
  return out + text.slice(done);
}

/** One `.wit` file rewritten for WASI `target`. */
export function rewrite(text, target) {
  const isWasi = /^\s*package\s+wasi:/m.test(text);
  // Only WASI packages carry WASI `@since` gates; ours are versioned alone.
  const body = isWasi ? dropNewerItems(text, target) : text;
  return body.replace(WASI_REF, (_, name, version) => {
    if (compare(version, target) < 0) {
      throw new Error(`\`${name}@${version}\` is older than ${target}; vendor a newer WASI in wit/deps`);
    }
    return `${name}@${target}`;
  });
}

/** The installed componentize-js package directory: $COMPONENTIZE_JS, else
 * where scripts/componentize.sh installs the pinned version, else
 * ~/.cache/spaceport/js. */
export function componentizeDir() {
  const pkg = 'node_modules/@bytecodealliance/componentize-js';
  const toolchains = process.env.SPACEPORT_TOOLCHAINS || join(homedir(), '.cache/spaceport');
  const candidates = [
    process.env.COMPONENTIZE_JS,
    join(toolchains, 'componentize-js-0.23.0', pkg),
    join(homedir(), '.cache/spaceport/js', pkg),
  ].filter(Boolean);
  for (const dir of candidates) {
    if (existsSync(join(dir, 'src/componentize.js'))) return resolve(dir);
  }
  throw new Error(
    `componentize-js not found (looked in ${candidates.join(', ')}); install it with ` +
      '`scripts/componentize.sh install` or set COMPONENTIZE_JS to its package directory',
  );
}

/** The WASI release the installed componentize-js engine exports its HTTP
 * handler at, read from the engine binary's import/export names. */
export function engineWasiVersion(componentizeDir) {
  const engine = readFileSync(join(componentizeDir, 'lib/starlingmonkey_embedding.wasm'));
  const m = /wasi:http\/incoming-handler@(\d+\.\d+\.\d+)/.exec(engine.toString('latin1'));
  if (!m) throw new Error(`cannot find the WASI version in ${componentizeDir}'s engine`);
  return m[1];
}

/** Write the rewritten WIT tree and return its directory. By default that is
 * `DEFAULT_OUT/wasi-<release>-<digest>`, named by its content: a tree once
 * written is never changed or removed, so builds running at once (two
 * projects sharing a target directory, `spaceport build` of several
 * components) never see a half-written or vanished tree. With `out`, that
 * directory is replaced. */
export function writeWit(target, out) {
  const files = [];
  for (const sub of ['', 'deps']) {
    for (const name of readdirSync(join(WIT_DIR, sub)).sort()) {
      if (!name.endsWith('.wit')) continue;
      files.push([sub, name, rewrite(readFileSync(join(WIT_DIR, sub, name), 'utf8'), target)]);
    }
  }
  const named = out === undefined;
  if (named) {
    const hash = createHash('sha256').update(target);
    for (const [sub, name, text] of files) hash.update(`\0${sub}/${name}\0`).update(text);
    out = join(DEFAULT_OUT, `wasi-${target}-${hash.digest('hex').slice(0, 16)}`);
    if (existsSync(out)) return out;
  }
  const tmp = `${out}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  for (const [sub, name, text] of files) {
    mkdirSync(join(tmp, sub), { recursive: true });
    writeFileSync(join(tmp, sub, name), text);
  }
  if (!named) rmSync(out, { recursive: true, force: true });
  try {
    renameSync(tmp, out);
  } catch (e) {
    // Another build wrote the same tree first: use it.
    rmSync(tmp, { recursive: true, force: true });
    if (!named || !existsSync(out)) throw e;
  }
  return out;
}

const invoked = process.argv[1] ? resolve(process.argv[1]) : '';
// Run as a script, also through a symlink (Node reports this module by its real path).
if (invoked && existsSync(invoked) && realpathSync(invoked) === realpathSync(fileURLToPath(import.meta.url))) {
  const args = process.argv.slice(2);
  const opt = (flag) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  let target = opt('--wasi');
  if (!target) {
    target = engineWasiVersion(componentizeDir());
  }
  const out = writeWit(target, opt('--out') === undefined ? undefined : resolve(opt('--out')));
  console.log(`wrote ${out} (WASI ${target})`);
}

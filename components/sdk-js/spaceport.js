// Spaceport's JavaScript SDK: write components with componentize-js.
//
// A thin layer over the bindings componentize-js generates for the
// `spaceport:platform` WIT, which map WIT to JS like this:
//   - a function returning `result<T, E>` returns T or throws an error whose
//     `payload` is E; variants are `{ tag: 'kebab-case', val }`;
//   - `option<T>` is T or undefined; records have camelCase keys;
//   - s64/u64 are BigInt; `list<f32>` is a Float32Array, `list<u8>` a Uint8Array;
//   - resources are objects with methods and `[Symbol.dispose]()`.
// This module turns those into plain JS: rows as objects, numbers as numbers,
// errors as `SqlError` / `LlmError` / `ToolError` with a `kind`.
//
// Module top-level code runs once, at build time (componentize-js snapshots
// the initialised module), so call platform functions only inside handlers.

import * as ctx from 'spaceport:platform/context@0.1.0';
import * as hostStatusApi from 'spaceport:platform/host-status@0.1.0';
import * as llmApi from 'spaceport:platform/llm@0.1.0';
import * as sqlApi from 'spaceport:platform/sql@0.1.0';
import * as toolsApi from 'spaceport:platform/tools@0.1.0';
import * as vars from 'spaceport:platform/variables@0.1.0';
import * as vectorsApi from 'spaceport:platform/vectors@0.1.0';

// ---------------------------------------------------------------------------
// Errors

/** A failed platform call: `kind` is the WIT error case (`unavailable`, ...). */
export class SpaceportError extends Error {
  constructor(kind, message) {
    super(message || kind);
    this.name = new.target.name;
    this.kind = kind;
  }
}

/** A database error (`constraint-violation`, `syntax`, `unavailable`, `timeout`, ...). */
export class SqlError extends SpaceportError {}

/** An LLM error (`unconfigured`, `rate-limited`, `unavailable`, `timeout`, ...). */
export class LlmError extends SpaceportError {}

/** A vectors error (`not-found`, `dimension-mismatch`, `invalid-filter`, `access-denied`, ...). */
export class VectorError extends SpaceportError {}

/**
 * A tool failure, as the WIT `tool-error` variant: throw one from a tool's
 * `run` to answer with that case. Also what `tools.call` throws.
 */
export class ToolError extends SpaceportError {
  static unknownTool(message) { return new ToolError('unknown-tool', message); }
  static invalidArguments(message) { return new ToolError('invalid-arguments', message); }
  static notFound(message) { return new ToolError('not-found', message); }
  static unavailable(message) { return new ToolError('unavailable', message); }
  static failed(message) { return new ToolError('failed', message); }
}

/** Run a binding call, turning its error payload into `ErrorClass`. */
function guarded(ErrorClass, call) {
  try {
    return call();
  } catch (e) {
    const payload = e && typeof e === 'object' && 'payload' in e ? e.payload : undefined;
    if (payload && typeof payload.tag === 'string') {
      throw new ErrorClass(payload.tag, typeof payload.val === 'string' ? payload.val : payload.tag);
    }
    throw e;
  }
}

// JSON.stringify cannot write BigInt; integers beyond 2^53 become strings.
const jsonReplacer = (_key, v) => (typeof v === 'bigint' ? v.toString() : v);

/** `value` as JSON text (BigInts as strings). */
export const toJson = (value) => JSON.stringify(value === undefined ? null : value, jsonReplacer);

const dispose = Symbol.dispose ?? Symbol.for('dispose');

// ---------------------------------------------------------------------------
// context: the request and the signed-in user (grant: `context = true`)

/**
 * The current request as the host routed it. Without `context = true` in the
 * manifest these calls trap (500 `capability_denied`), so read them lazily.
 */
export const context = {
  requestId: () => ctx.requestId(),
  componentId: () => ctx.componentId(),
  matchedRoute: () => ctx.matchedRoute(),
  /** The route's `:name` params as an object. */
  params: () => Object.fromEntries(ctx.routeParams().map((p) => [p.name, p.value])),
  param: (name) => ctx.param(name) ?? null,
  pathInfo: () => ctx.pathInfo(),
  /** The authenticated user `{ userId, email }`, or null when anonymous. */
  user: () => ctx.user() ?? null,
};

// ---------------------------------------------------------------------------
// variables (always readable)

export const variables = {
  /** The manifest variable `name`, or `fallback` when it is not set. */
  get: (name, fallback = null) => vars.get(name) ?? fallback,
  /** Every variable as an object. */
  all: () => Object.fromEntries(vars.getAll()),
};

// ---------------------------------------------------------------------------
// host status (grant: `host_status = true`)

/** The host's status: versions, uptime and each dependency's state. */
export function hostStatus() {
  const s = hostStatusApi.get();
  return { ...s, uptimeMs: Number(s.uptimeMs) };
}

// ---------------------------------------------------------------------------
// sql (grant: `sql = ["<db>"]`)

/** Bind `x` as a REAL (a JS number with no fraction binds as INTEGER otherwise). */
export const real = (x) => ({ tag: 'real', val: Number(x) });

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A JS value as a WIT `value`. */
function toValue(v, index) {
  if (v === null || v === undefined) return { tag: 'null' };
  switch (typeof v) {
    case 'boolean': return { tag: 'boolean', val: v };
    case 'bigint': return { tag: 'integer', val: v };
    case 'string': return { tag: 'text', val: v };
    case 'number':
      return Number.isSafeInteger(v) ? { tag: 'integer', val: BigInt(v) } : { tag: 'real', val: v };
  }
  if (v instanceof Uint8Array) return { tag: 'blob', val: v };
  if (v instanceof ArrayBuffer) return { tag: 'blob', val: new Uint8Array(v) };
  if (v instanceof Date) return { tag: 'text', val: v.toISOString() };
  if (typeof v.tag === 'string') return v; // already a WIT value, e.g. real(1)
  throw new TypeError(`SQL parameter $${index + 1}: cannot bind ${Object.prototype.toString.call(v)}`);
}

/** A WIT `value` as a JS value (integers as numbers when exact, else BigInt). */
function fromValue(v) {
  switch (v.tag) {
    case 'null': return null;
    case 'integer': return v.val >= MIN_SAFE && v.val <= MAX_SAFE ? Number(v.val) : v.val;
    default: return v.val; // real, text, blob (Uint8Array), boolean
  }
}

const params = (list) => list.map(toValue);

/** Rows as objects keyed by column name (a repeated name: the last one wins). */
function rowsOf({ columns, rows }) {
  return rows.map((row) => {
    const obj = {};
    columns.forEach((name, i) => { obj[name] = fromValue(row[i]); });
    return obj;
  });
}

/** The statements a database and a transaction both run. */
class Statements {
  /** Rows of `statement` (placeholders `$1, $2, …`) as objects. */
  query(statement, args = []) {
    return rowsOf(guarded(SqlError, () => this._query(statement, params(args))));
  }

  /** The first row, or null. */
  queryOne(statement, args = []) {
    return this.query(statement, args)[0] ?? null;
  }

  /** Run a statement; the number of rows it affected. */
  execute(statement, args = []) {
    return Number(guarded(SqlError, () => this._execute(statement, params(args))));
  }
}

/** An open transaction; see `Database.transaction`. */
export class Transaction extends Statements {
  constructor(resource) {
    super();
    this._tx = resource;
  }
  _query(s, p) { return this._tx.query(s, p); }
  _execute(s, p) { return this._tx.execute(s, p); }
  commit() { guarded(SqlError, () => this._tx.commit()); }
  rollback() { guarded(SqlError, () => this._tx.rollback()); }
  /** Release the connection (rolls back if neither committed nor rolled back). */
  close() { this._tx[dispose]?.(); }
}

/** A database the manifest grants this component. */
export class Database extends Statements {
  constructor(name) {
    super();
    this.name = name;
  }
  _query(s, p) { return sqlApi.query(this.name, s, p); }
  _execute(s, p) { return sqlApi.execute(this.name, s, p); }

  /** Start a transaction; prefer `transaction(fn)`, which always ends it. */
  begin() {
    return new Transaction(guarded(SqlError, () => sqlApi.begin(this.name)));
  }

  /**
   * Run `fn(tx)` in a transaction: committed when it returns (or its promise
   * resolves), rolled back when it throws. Returns what `fn` returned.
   */
  transaction(fn) {
    const tx = this.begin();
    const fail = (e) => {
      try { tx.rollback(); } catch { /* the original error matters more */ }
      tx.close();
      throw e;
    };
    const done = (value) => {
      tx.commit();
      tx.close();
      return value;
    };
    let result;
    try {
      result = fn(tx);
    } catch (e) {
      return fail(e);
    }
    if (result && typeof result.then === 'function') {
      return result.then((value) => {
        try { return done(value); } catch (e) { return fail(e); }
      }, fail);
    }
    try { return done(result); } catch (e) { return fail(e); }
  }
}

/** The granted database `name` (e.g. `database('tasks')`). */
export const database = (name) => new Database(name);

// ---------------------------------------------------------------------------
// llm (grant: `llm = true`)

/** A message in WIT shape; accepts `{ role, content }` shorthand. */
function message(m) {
  return {
    role: m.role,
    content: m.content ?? undefined,
    toolCalls: m.toolCalls ?? [],
    toolCallId: m.toolCallId ?? undefined,
  };
}

/** A tool for the model: `{ name, description, parameters }` (a schema object). */
function toolDefinition(t) {
  return {
    name: t.name,
    description: t.description ?? '',
    parametersSchema: t.parametersSchema ?? JSON.stringify(t.parameters ?? { type: 'object' }),
  };
}

function completionRequest(req) {
  return {
    messages: req.messages.map(message),
    tools: (req.tools ?? []).map(toolDefinition),
    model: req.model,
    temperature: req.temperature,
    maxTokens: req.maxTokens,
  };
}

export const llm = {
  /**
   * A whole completion: `{ content, toolCalls, finishReason, usage, model }`.
   * `req`: `{ messages: [{ role, content, toolCalls?, toolCallId? }], tools?,
   * model?, temperature?, maxTokens? }`; tools may be this SDK's tool objects.
   */
  complete(req) {
    return guarded(LlmError, () => llmApi.complete(completionRequest(req)));
  },

  /**
   * A streamed completion, as a generator of `{ type: 'content', text }`,
   * `{ type: 'idle' }` (nothing within `waitMs`: time for a keep-alive) and,
   * last, `{ type: 'finished', completion }`.
   */
  *stream(req, { waitMs = 15000 } = {}) {
    const stream = guarded(LlmError, () => llmApi.stream(completionRequest(req)));
    try {
      for (;;) {
        const event = guarded(LlmError, () => stream.next(waitMs));
        if (event.tag === 'content') yield { type: 'content', text: event.val };
        else if (event.tag === 'idle') yield { type: 'idle' };
        else {
          yield { type: 'finished', completion: event.val };
          return;
        }
      }
    } finally {
      stream[dispose]?.();
    }
  },

  /** One embedding (an array of numbers) per input text. */
  embed(inputs, model) {
    return guarded(LlmError, () => llmApi.embed(inputs, model)).map((v) => Array.from(v));
  },
};

// ---------------------------------------------------------------------------
// vectors (grant: `vectors = ["<collection>"]`)

const floats = (v) => Float32Array.from(v, Number);

export const vectors = {
  /** Create collection `name` if missing (`distance`: cosine, dot or euclid); an existing one must match. */
  ensureCollection(name, dimension, distance = 'cosine') {
    guarded(VectorError, () => vectorsApi.ensureCollection(name, dimension, distance));
  },
  /** Insert or replace points `{ id, vector, payload }` (at most 1000 per call). */
  upsert(collection, points) {
    const wit = points.map((p) => ({ id: String(p.id), vector: floats(p.vector), payload: toJson(p.payload ?? {}) }));
    guarded(VectorError, () => vectorsApi.upsert(collection, wit));
  },
  /**
   * The points nearest to `vector`, best first: `[{ id, score, payload }]`.
   * `filter`: `{ must: [{ key, match } | { key, range: { gte, ... } }] }`.
   */
  search(collection, vector, { topK = 10, filter, scoreThreshold } = {}) {
    const query = {
      vector: floats(vector),
      topK,
      filter: filter === undefined ? undefined : toJson(filter),
      scoreThreshold,
    };
    return guarded(VectorError, () => vectorsApi.search(collection, query)).map((h) => ({
      id: h.id,
      score: h.score,
      payload: JSON.parse(h.payload || '{}'),
    }));
  },
  /** Delete points by id; returns how many existed. */
  delete(collection, ids) {
    return Number(guarded(VectorError, () => vectorsApi.deletePoints(collection, ids.map(String))));
  },
  /** Delete the points whose payload matches `filter`; returns how many. */
  deleteWhere(collection, filter) {
    return Number(guarded(VectorError, () => vectorsApi.deleteWhere(collection, toJson(filter))));
  },
  /** How many points (matching `filter`, if given) the collection holds. */
  count(collection, filter) {
    return Number(
      guarded(VectorError, () => vectorsApi.count(collection, filter === undefined ? undefined : toJson(filter))),
    );
  },
};

// ---------------------------------------------------------------------------
// tools: call other components' tools (grant: `tools = ["<component>"]`)

export const tools = {
  /** The tools this component may call: `{ name, description, parameters }`. */
  list() {
    return toolsApi.list().map((t) => ({
      name: t.name,
      description: t.description,
      parameters: JSON.parse(t.parametersSchema),
    }));
  },

  /** Call tool `name` with `args` (an object); its parsed JSON result. Throws ToolError. */
  call(name, args = {}) {
    return JSON.parse(guarded(ToolError, () => toolsApi.call(name, toJson(args))));
  },
};

// ---------------------------------------------------------------------------
// Offering tools (export `toolProvider`)

/** The `tool-error` a thrown value answers with. */
function toolErrorOf(e, name) {
  if (e instanceof ToolError) {
    // `access-denied` is the host's to give; a nested call's denial is our failure.
    return e.kind === 'access-denied' ? { tag: 'failed', val: e.message } : { tag: e.kind, val: e.message };
  }
  if (e instanceof SqlError || e instanceof LlmError) {
    const transient = ['unavailable', 'timeout', 'rate-limited'].includes(e.kind);
    return { tag: transient ? 'unavailable' : 'failed', val: `${e.kind}: ${e.message}` };
  }
  console.error(`tool \`${name}\` failed: ${e?.stack ?? e}`);
  return { tag: 'failed', val: String(e?.message ?? e) };
}

/** Fill in top-level `default`s of the schema's properties that `args` lacks. */
function withDefaults(schema, args) {
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    if (args[key] === undefined && prop && 'default' in prop) args[key] = structuredClone(prop.default);
  }
  return args;
}

/** What a tool's `run` gets besides its arguments. */
function toolContext(tool) {
  return {
    tool,
    /** The signed-in user `{ userId, email }`, or null (needs `context = true`). */
    get user() { return context.user(); },
    /** The signed-in user; a `failed` tool error when the call is anonymous. */
    requireUser() {
      const user = context.user();
      if (!user) throw ToolError.failed('this tool needs a signed-in user');
      return user;
    },
  };
}

/**
 * The `toolProvider` export for tools declared as plain objects:
 *
 *   export const toolProvider = provideTools({
 *     name: 'greet', description: 'Say hello',
 *     parameters: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
 *     run: ({ name }, ctx) => ({ greeting: `Hello, ${name}` }),
 *   });
 *
 * `run(args, ctx)` may be async; what it returns is sent as JSON. The host
 * checks arguments against `parameters` before `invoke` runs; missing
 * top-level properties get their schema `default`. Throw a `ToolError` to
 * answer with that case; database and LLM outages become `unavailable`,
 * anything else `failed` (and its stack goes to the log).
 */
export function provideTools(...defs) {
  const byName = new Map();
  for (const def of defs.flat()) {
    for (const key of ['name', 'description']) {
      if (typeof def[key] !== 'string' || !def[key]) throw new TypeError(`tool ${def.name ?? '?'}: \`${key}\` must be a non-empty string`);
    }
    if (typeof def.run !== 'function') throw new TypeError(`tool ${def.name}: \`run\` must be a function`);
    if (byName.has(def.name)) throw new TypeError(`tool ${def.name} is declared twice`);
    byName.set(def.name, { ...def, parameters: def.parameters ?? { type: 'object', properties: {} } });
  }
  return {
    describe() {
      return [...byName.values()].map(toolDefinition);
    },
    async invoke(name, argumentsJson) {
      const def = byName.get(name);
      if (!def) {
        return { tag: 'err', val: { tag: 'unknown-tool', val: `no tool \`${name}\` here; tools: ${[...byName.keys()].join(', ')}` } };
      }
      let args;
      try {
        args = argumentsJson.trim() ? JSON.parse(argumentsJson) : {};
      } catch (e) {
        return { tag: 'err', val: { tag: 'invalid-arguments', val: `not valid JSON: ${e.message}` } };
      }
      if (args === null || typeof args !== 'object' || Array.isArray(args)) {
        return { tag: 'err', val: { tag: 'invalid-arguments', val: 'expected a JSON object' } };
      }
      try {
        const result = await def.run(withDefaults(def.parameters, args), toolContext(name));
        return { tag: 'ok', val: toJson(result) };
      } catch (e) {
        return { tag: 'err', val: toolErrorOf(e, name) };
      }
    },
  };
}

// ---------------------------------------------------------------------------
// HTTP (worlds http-component and tool-component; build with --world)

/** An error answer: `throw new HttpError(404, 'not_found', 'no such task')`. */
export class HttpError extends Error {
  constructor(status, code, detail) {
    super(detail ?? code);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
  }
}

/** A JSON response. */
export function json(body, status = 200, headers = {}) {
  return new Response(toJson(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/** The request body as JSON; `400 invalid_json` when it is not. */
export async function readJson(request) {
  const text = await request.text();
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, 'invalid_json', `the body is not valid JSON: ${e.message}`);
  }
}

/** What a handler gets besides the request: route facts from the host's headers. */
function httpContext(request) {
  const h = request.headers;
  return {
    requestId: h.get('x-request-id'),
    /** A `:name` route param (from the host's `spaceport-path-match-*` headers, no grant needed). */
    param: (name) => h.get(`spaceport-path-match-${name}`),
    pathInfo: h.get('spaceport-path-info') ?? '',
    /** The signed-in user `{ userId, email }`, or null (needs `context = true`). */
    get user() { return context.user(); },
  };
}

function errorResponse(status, code, detail, requestId) {
  return json({ error: code, detail, request_id: requestId }, status);
}

/**
 * Answer every request with `handler(request, ctx)`: `request` is a standard
 * `Request`; return a `Response`, or any value to send as JSON with 200.
 * Throw `HttpError` for an error answer; a database outage is
 * `503 database_unavailable`, anything else `500 internal_error` (logged).
 */
export function serve(handler) {
  addEventListener('fetch', (event) => {
    const request = event.request;
    const c = httpContext(request);
    const answer = async () => {
      try {
        const out = await handler(request, c);
        return out instanceof Response ? out : json(out ?? null);
      } catch (e) {
        if (e instanceof HttpError) return errorResponse(e.status, e.code, e.message, c.requestId);
        if (e instanceof SqlError && ['unavailable', 'timeout'].includes(e.kind)) {
          return errorResponse(503, 'database_unavailable', e.message, c.requestId);
        }
        console.error(`${request.method} ${new URL(request.url).pathname} failed: ${e?.stack ?? e}`);
        return errorResponse(500, 'internal_error', String(e?.message ?? e), c.requestId);
      }
    };
    event.respondWith(answer());
  });
}

// task-stats: one tool, `summarize_tasks`, that tells the chat agent how the
// signed-in user is doing with their todo list. Reads the `tasks` database it
// shares with task-tools (read-only; grant `sql = ["tasks"]`, `context = true`).
//
// Portable across SQLite and PostgreSQL: `completed` is INTEGER 0/1 on one
// and BOOLEAN on the other (bound as a boolean, read as either), and dates
// are compared in JS, so it works whether `created_at`/`updated_at` are
// RFC 3339 TEXT or TIMESTAMPTZ (which the host reads as RFC 3339 text).

import { ToolError, database, provideTools } from '../sdk-js/spaceport.js';

const tasks = database('tasks');

const DAY_MS = 86_400_000;
const RECENT_DAYS = 7;
/** Rows per page when scanning the newest completions. */
const PAGE = 200;

/** `completed` as the backend returns it: 0/1 (SQLite) or true/false (PostgreSQL). */
const isDone = (v) => v === true || v === 1;

/** Milliseconds since the epoch of an RFC 3339 timestamp (`T` or space, any
 * fraction digits, `Z` or an offset), or NaN. */
function parseTime(text) {
  const m = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?\s*(Z|[+-]\d\d(?::?\d\d)?)?$/i.exec(
    String(text ?? '').trim(),
  );
  if (!m) return NaN;
  const [, y, mo, d, h, mi, s = '0', frac = '0', zone = 'Z'] = m;
  const ms = Number(frac.padEnd(3, '0').slice(0, 3));
  let t = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s, ms);
  if (zone.toUpperCase() !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    t -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || 0)) * 60_000;
  }
  return t;
}

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Total, open and completed tasks of `user`. */
function counts(user) {
  const rows = tasks.query('SELECT completed, COUNT(*) AS n FROM tasks WHERE user_id = $1 GROUP BY completed', [user]);
  let open = 0;
  let completed = 0;
  for (const row of rows) {
    if (isDone(row.completed)) completed += Number(row.n);
    else open += Number(row.n);
  }
  return { total: open + completed, open, completed };
}

/** The `limit` oldest open tasks, with their age in whole days. */
function oldestOpen(user, limit, now) {
  const rows = tasks.query(
    'SELECT id, title, created_at FROM tasks WHERE user_id = $1 AND completed = $2 ORDER BY created_at, id LIMIT $3',
    [user, false, limit],
  );
  return rows.map((r) => {
    const created = parseTime(r.created_at);
    return {
      id: r.id,
      title: r.title,
      created_at: r.created_at,
      age_days: Number.isNaN(created) ? null : Math.max(0, Math.floor((now - created) / DAY_MS)),
    };
  });
}

/**
 * Completed tasks changed since `since` (there is no completion time; a
 * completed task's `updated_at` is when it was last changed, usually when it
 * was completed): how many, and the newest `limit` of them. Scans newest
 * first, page by page, and stops at the first older row.
 */
function completedSince(user, since, limit) {
  const newest = [];
  let count = 0;
  for (let offset = 0; ; offset += PAGE) {
    const rows = tasks.query(
      'SELECT id, title, updated_at FROM tasks WHERE user_id = $1 AND completed = $2 ' +
        'ORDER BY updated_at DESC, id DESC LIMIT $3 OFFSET $4',
      [user, true, PAGE, offset],
    );
    for (const r of rows) {
      const t = parseTime(r.updated_at);
      if (Number.isNaN(t)) continue;
      if (t < since) return { count, tasks: newest };
      count++;
      if (newest.length < limit) newest.push({ id: r.id, title: r.title, updated_at: r.updated_at });
    }
    if (rows.length < PAGE) return { count, tasks: newest };
  }
}

function summaryLine(c, oldest, recent) {
  if (c.total === 0) return 'You have no tasks yet.';
  const week = `${recent.count} completed in the last ${RECENT_DAYS} days`;
  if (c.open === 0) return `You have ${plural(c.total, 'task')}, all completed (${week}).`;
  let line = `You have ${plural(c.total, 'task')}: ${c.open} open and ${c.completed} completed (${week}).`;
  const first = oldest[0];
  if (first) {
    const age =
      first.age_days === null ? '' : first.age_days === 0 ? ' (added today)' : ` (${plural(first.age_days, 'day')} old)`;
    line += ` Oldest open: "${first.title}"${age}.`;
  }
  return line;
}

const summarizeTasks = {
  name: 'summarize_tasks',
  description:
    "Summarise the user's tasks: how many are open and completed, the oldest open tasks with their age in days, " +
    `and the tasks completed in the last ${RECENT_DAYS} days, plus a one-line summary. ` +
    "Use it for questions like 'how am I doing?' or 'what have I been putting off?'.",
  parameters: {
    type: 'object',
    properties: {
      limit: {
        type: 'integer',
        minimum: 1,
        maximum: 20,
        default: 5,
        description: 'How many oldest open and recently completed tasks to list (1-20, default 5)',
      },
    },
    additionalProperties: false,
  },
  run({ limit }, ctx) {
    // The host checks the schema; this guards direct calls all the same.
    if (!Number.isInteger(limit) || limit < 1 || limit > 20) {
      throw ToolError.invalidArguments('limit: must be an integer from 1 to 20');
    }
    // Whose tasks: the signed-in user, never an argument.
    const user = ctx.requireUser().userId;
    const now = Date.now();
    const c = counts(user);
    const oldest = oldestOpen(user, limit, now);
    const recent = completedSince(user, now - RECENT_DAYS * DAY_MS, limit);
    return {
      counts: c,
      oldest_open: oldest,
      completed_last_7_days: recent,
      summary: summaryLine(c, oldest, recent),
    };
  },
};

export const toolProvider = provideTools(summarizeTasks);

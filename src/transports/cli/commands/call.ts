import { ExitCode, RpcCallError, usageError } from '../cli-error.js';
import type { Command, CommandContext } from '../command.js';
import { commandNames, GLOBAL_USAGE, lookupCommand, usage } from '../main.js';
import { readStdin } from '../stdin.js';

/**
 * Generic access to every registered method (including those added later by services and
 * plugins): `call` sends it, `help METHOD` and `methods` read the server's rpc.discover. The
 * server validates params against the method's zod schema, so argument checking is the
 * registry's own; a bad argument is a usage error (exit 2) naming the field.
 */
export const callCommand: Command = {
  name: 'call',
  summary: 'call any method',
  usage: `Usage: icpy call METHOD [JSON | - | key=value | key:=json …] [--ws]

Call any method the server offers and print its result.
  JSON        params as one JSON object: icpy call files.read '{"path":"a.txt"}'
  -           read the params JSON from stdin
  key=value   a string param;  key:=json  a JSON param (number, bool, array, object)
              icpy call files.read path=a.txt      icpy call events.history since:=0 limit:=5
  --ws        call over the WebSocket (methods that need a live connection)

Human output prints a string result as is, anything else as indented JSON; --json prints one
compact JSON line. A method or params the server rejects exits 2 (see: icpy help METHOD).`,
  options: { ws: { type: 'boolean' } },
  async run(ctx) {
    const [method, ...args] = ctx.positionals;
    if (!method) throw usageError('call: METHOD missing', callCommand.usage);
    const params = await paramsFrom(args);
    let result: unknown;
    try {
      result = ctx.values.ws ? await (await ctx.ws()).call(method, params) : await ctx.http().call(method, params);
    } catch (err) {
      if (err instanceof RpcCallError && (err.code === 'INVALID_PARAMS' || err.code === 'METHOD_NOT_FOUND')) {
        if (ctx.out.json) ctx.out.jsonLine({ error: err.toWire() });
        throw usageError(`${err.code}: ${err.message}`, err.code === 'METHOD_NOT_FOUND' ? 'See: icpy methods' : `See: icpy help ${method}`);
      }
      throw err;
    }
    printResult(ctx, result);
    return ExitCode.Ok;
  },
};

export function printResult(ctx: CommandContext, result: unknown): void {
  if (ctx.out.json) ctx.out.jsonLine(result);
  else if (typeof result === 'string') ctx.out.line(result);
  else ctx.out.line(JSON.stringify(result, null, 2));
}

async function paramsFrom(args: string[]): Promise<Record<string, unknown>> {
  if (args.length === 0) return {};
  if (args.length === 1 && (args[0] === '-' || /^\s*[{[]/.test(args[0]!))) {
    const text = args[0] === '-' ? (await readStdin()).toString('utf8') : args[0]!;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (err) {
      throw usageError(`call: params are not valid JSON: ${(err as Error).message}`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw usageError('call: params must be a JSON object');
    return v as Record<string, unknown>;
  }
  const params: Record<string, unknown> = {};
  for (const a of args) {
    const m = /^([A-Za-z_$][\w$-]*)(:?=)(.*)$/s.exec(a);
    if (!m) throw usageError(`call: '${a}' is neither JSON nor key=value / key:=json`, callCommand.usage);
    const [, key, op, raw] = m;
    if (op === '=') params[key!] = raw;
    else {
      try {
        params[key!] = JSON.parse(raw!);
      } catch {
        throw usageError(`call: value of '${key}' is not valid JSON: ${raw}`);
      }
    }
  }
  return params;
}

interface OpenRpcMethod {
  name: string;
  summary?: string;
  description?: string;
  params: { name: string; required: boolean; schema: Record<string, any>; description?: string }[];
  result?: { schema: Record<string, any> };
  'x-scope'?: string;
  'x-requires-session'?: boolean;
  examples?: { name: string; description?: string; params: { name: string; value: unknown }[]; result?: { value: unknown } }[];
}

async function discover(ctx: CommandContext): Promise<{ methods: OpenRpcMethod[]; 'x-events'?: { topic: string; description: string }[] }> {
  return (await ctx.http().call('rpc.discover')) as any;
}

/** A short type for a JSON Schema: string, integer ≥0, "a"|"b", string[], object… */
export function schemaType(s: Record<string, any> | undefined): string {
  if (!s) return 'any';
  if (s.enum) return s.enum.map((v: unknown) => JSON.stringify(v)).join('|');
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.anyOf || s.oneOf) return (s.anyOf ?? s.oneOf).map(schemaType).join('|');
  if (s.type === 'array') return `${schemaType(s.items)}[]`;
  if (Array.isArray(s.type)) return s.type.join('|');
  if (s.type === 'object' && s.properties) return `{${Object.keys(s.properties).join(', ')}}`;
  if (s.type === 'object' && s.additionalProperties) return `{[key]: ${schemaType(s.additionalProperties)}}`;
  return s.type ?? 'any';
}

function describeParam(s: Record<string, any>): string {
  const bits: string[] = [];
  if (typeof s.description === 'string') bits.push(s.description);
  if (s.default !== undefined) bits.push(`default ${JSON.stringify(s.default)}`);
  if (s.minimum !== undefined) bits.push(`min ${s.minimum}`);
  if (s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER) bits.push(`max ${s.maximum}`);
  return bits.join('; ');
}

export const methodsCommand: Command = {
  name: 'methods',
  summary: 'list every method',
  usage: `Usage: icpy methods [PREFIX]

List every method the server offers (from rpc.discover), with its scope and summary.
  icpy methods files.     only methods whose name starts with "files."`,
  async run(ctx) {
    const doc = await discover(ctx);
    const prefix = ctx.positionals[0] ?? '';
    const list = doc.methods.filter((m) => m.name.startsWith(prefix));
    if (ctx.out.json) {
      ctx.out.jsonLine(list.map((m) => ({ name: m.name, scope: m['x-scope'], summary: m.summary })));
      return;
    }
    ctx.out.table(
      list.map((m) => ({ method: m.name, scope: m['x-scope'] ?? '', summary: firstSentence(m.summary ?? '') })),
      ['method', 'scope', 'summary'],
    );
  },
};

export const helpCommand: Command = {
  name: 'help',
  summary: 'help',
  usage: `Usage: icpy help [COMMAND | METHOD]

Without an argument: the list of commands. With a command name: its usage. With a method name
(it has a dot, e.g. files.read): the method's description, scope and params, read from the
server (rpc.discover) — so it covers methods added later by services and plugins.`,
  async run(ctx) {
    const [topic] = ctx.positionals;
    if (!topic) {
      ctx.out.line(usage());
      return;
    }
    if (commandNames().includes(topic)) {
      const c = (await lookupCommand(topic))!;
      ctx.out.line(`${c.usage}\n\n${GLOBAL_USAGE}`);
      return;
    }
    if (!topic.includes('.')) throw usageError(`help: no command '${topic}' (a method name has a dot, e.g. files.read)`, usage());
    const doc = await discover(ctx);
    const m = doc.methods.find((x) => x.name === topic);
    if (!m) throw usageError(`help: no method '${topic}'`, 'See: icpy methods');
    if (ctx.out.json) {
      ctx.out.jsonLine(m);
      return;
    }
    const out = ctx.out;
    out.line(`${out.bold(m.name)}  ${out.dim(`scope: ${m['x-scope'] ?? '?'}${m['x-requires-session'] ? ', WebSocket only (call --ws)' : ''}`)}`);
    out.line();
    out.line(m.description ?? m.summary ?? '');
    out.line();
    if (m.params.length) {
      out.line('Params:');
      out.table(
        m.params.map((p) => ({ name: p.name, type: schemaType(p.schema), required: p.required ? 'yes' : '', about: describeParam(p.schema) })),
        ['name', 'type', 'required', 'about'],
      );
    } else out.line('Params: none');
    if (m.result) {
      out.line();
      out.line(`Result: ${schemaType(m.result.schema)}`);
    }
    out.line();
    out.line('Usage:');
    const ws = m['x-requires-session'] ? ' --ws' : '';
    const required = m.params.filter((p) => p.required);
    out.line(`  icpy call ${m.name}${required.map((p) => ` ${p.name}${p.schema.type === 'string' ? '=' : ':='}<${schemaType(p.schema)}>`).join('')}${ws}`);
    if (m.examples?.length) {
      out.line();
      out.line('Examples:');
    }
    for (const e of m.examples ?? []) {
      const ex = Object.fromEntries(e.params.map((p) => [p.name, p.value]));
      if (e.description) out.line(out.dim(`  # ${e.description}`));
      out.line(`  icpy call ${m.name} '${JSON.stringify(ex)}'${ws}`);
      if (e.result) out.line(out.dim(`  → ${cut(JSON.stringify(e.result.value), 200)}`));
    }
  },
};

function cut(s: string, max: number): string {
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

function firstSentence(s: string): string {
  const m = /^(.*?[.!?])(\s|$)/s.exec(s);
  const first = (m ? m[1]! : s).replace(/\s+/g, ' ');
  return first.length > 100 ? first.slice(0, 99) + '…' : first;
}

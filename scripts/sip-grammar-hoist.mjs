#!/usr/bin/env node
/**
 * Post-processes sip.js's grammar as peggy generates it in speed mode (docs/upstream/sipjs-patches.md,
 * section 1): the per-parse state of `peg$parse` becomes module variables that `peg$parse` sets at its
 * start, and everything else it defined on each call (constants, actions, helpers, rule functions)
 * moves to module level, defined once per process.
 *
 *   node scripts/sip-grammar-hoist.mjs SPEED_GRAMMAR.js > node_modules/sip.js/lib/grammar/pegjs/dist/grammar.js
 *   npx patch-package sip.js
 *
 * The input is the speed-mode build of the sip.js tag's grammar.pegjs, transpiled to ES2017 modules
 * (how to make it: docs/upstream/sipjs-patches.md). Fails loudly if the generated layout is not the
 * one this was written for.
 */
import { readFileSync } from 'node:fs';

const lines = readFileSync(process.argv[2], 'utf8').split('\n');
const start = lines.findIndex((l) => l.startsWith('function peg$parse(input, options) {'));
const end = lines.findIndex((l, i) => i > start && l === '}');
if (start < 0 || end < 0) throw new Error('no peg$parse(input, options) in the input');
const head = lines.slice(0, start);
const body = lines.slice(start + 1, end);
const tail = lines.slice(end + 1);

/** The index of the first body line from `from` on that `test` accepts. */
function find(test, from = 0) {
  const i = body.findIndex((l, j) => j >= from && test(l));
  if (i < 0) throw new Error(`layout not recognised near ${String(test)}`);
  return i;
}
const trimmed = (text) => (l) => l.trim() === text;
const starting = (text) => (l) => l.trim().startsWith(text);

const iFailed = find(trimmed('const peg$FAILED = {};'));
const iRuleTable = find(starting('const peg$startRuleFunctions ='));
const iRuleDefault = find(starting('let peg$startRuleFunction = '));
const iState = find(trimmed('let peg$currPos = 0;'));
const iResult = find(trimmed('let peg$result;'));
const iIf = iResult + 1;
if (!body[iIf].trim().startsWith('if (options.startRule !== undefined)')) throw new Error('no start rule check after the state');
const iIfEnd = find((l) => l === '    }', iIf);
const iData = find(starting('options.data = {};'));
const iList = iData + 1;
if (!body[iList].trim().startsWith('function list(head, tail)')) throw new Error('no list() after options.data');
const iListEnd = find((l) => l === '    }', iList);
const iRun = iListEnd + 1;
if (body[iRun].trim() !== 'peg$result = peg$startRuleFunction();') throw new Error('no start rule call after list()');

const dedent = (ls) => ls.map((l) => (l.startsWith('    ') ? l.slice(4) : l));
const declarations = [];
const resets = [];
for (const line of body.slice(iState, iResult + 1)) {
  const m = /^(?:let|const) (peg\$\w+)(?: = (.*))?;$/.exec(line.trim());
  if (!m) throw new Error(`unexpected state line: ${line}`);
  declarations.push(`let ${m[1]};`);
  if (m[2] !== undefined) resets.push(`    ${m[1]} = ${m[2]};`);
}
const ruleDefault = body[iRuleDefault].trim().slice('let peg$startRuleFunction = '.length, -1);

const out = [
  ...head,
  '// legway-patch: generated with optimize "speed" (upstream builds with "size"), and everything peg$parse',
  '// defined on each call (about 400 constants and closures, the rule functions, the helpers) is defined',
  '// once per module; the per-parse state lives in module variables that peg$parse sets at its start.',
  '// The parser never re-enters itself (no grammar action parses), so module state is safe.',
  'let input;',
  'let options;',
  'let peg$source;',
  'let peg$startRuleFunction;',
  ...declarations,
  ...dedent([body[iFailed], body[iRuleTable]]),
  ...dedent(body.slice(iRuleDefault + 1, iState)),
  ...dedent(body.slice(iIfEnd + 1, iData)),
  ...dedent(body.slice(iList, iListEnd + 1)),
  'function peg$parse(inputArg, optionsArg) {',
  '    input = inputArg;',
  '    options = optionsArg !== undefined ? optionsArg : {};',
  '    peg$source = options.grammarSource;',
  `    peg$startRuleFunction = ${ruleDefault};`,
  ...resets,
  ...body.slice(iIf, iIfEnd + 1),
  body[iData],
  ...body.slice(iRun),
  '}',
  ...tail,
];
process.stdout.write(out.join('\n'));

#!/usr/bin/env node
// Golden ids from the real Hugging Face `tokenizers` library (Rust, via its official node binding).
//
// Usage (from a scratch folder outside the repository, see README.md here):
//   npm install tokenizers@0.23.2
//   node make_token_goldens.js STRINGS.json TOKENIZER.json OUT.json
//
// OUT.json holds, for the tokenizer itself and for a few variants of it (the same vocabulary with
// another pre-tokenizer / model / added-token configuration, to pin each supported configuration
// branch), every string's ids = encode(s, add_special_tokens=false) and its decodings; plus
// decodings of id prefixes (cut inside multi-byte characters) and of fixed-seed random id sequences.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const [stringsFile, tokenizerFile, outFile] = process.argv.slice(2);
if (!outFile) {
  console.error('usage: node make_token_goldens.js STRINGS.json TOKENIZER.json OUT.json');
  process.exit(2);
}
const strings = JSON.parse(fs.readFileSync(stringsFile, 'utf8'));
const baseJson = JSON.parse(fs.readFileSync(tokenizerFile, 'utf8'));

// Each variant is a patch the Java test applies the same way (see GoldenVariants in the tests).
const byteLevelNoRegex = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false };
const variants = [
  { name: 'gpt2-bytelevel-regex-prefix-space',
    patch: { pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true } } },
  { name: 'split-removed-whitespace',
    patch: { pre_tokenizer: { type: 'Sequence', pretokenizers: [
      { type: 'Split', pattern: { Regex: '\\s+' }, behavior: 'Removed', invert: false }, byteLevelNoRegex] } } },
  { name: 'split-string-merged-with-previous',
    patch: { pre_tokenizer: { type: 'Sequence', pretokenizers: [
      { type: 'Split', pattern: { String: ' ' }, behavior: 'MergedWithPrevious', invert: false }, byteLevelNoRegex] } } },
  { name: 'split-punct-merged-with-next',
    patch: { pre_tokenizer: { type: 'Sequence', pretokenizers: [
      { type: 'Split', pattern: { Regex: '\\p{P}+' }, behavior: 'MergedWithNext', invert: false }, byteLevelNoRegex] } } },
  { name: 'split-digit-contiguous',
    patch: { pre_tokenizer: { type: 'Sequence', pretokenizers: [
      { type: 'Split', pattern: { Regex: '[0-9]' }, behavior: 'Contiguous', invert: false }, byteLevelNoRegex] } } },
  { name: 'split-letters-inverted-removed',
    patch: { pre_tokenizer: { type: 'Sequence', pretokenizers: [
      { type: 'Split', pattern: { Regex: '\\p{L}+' }, behavior: 'Removed', invert: true }, byteLevelNoRegex] } } },
  { name: 'split-anchors-and-classes',
    patch: { pre_tokenizer: { type: 'Sequence', pretokenizers: [
      { type: 'Split', pattern: { Regex: '\\s+$' }, behavior: 'Isolated', invert: false },
      { type: 'Split', pattern: { Regex: '^.' }, behavior: 'Isolated', invert: false },
      { type: 'Split', pattern: { Regex: '\\w+|\\d|\\s' }, behavior: 'Isolated', invert: false }, byteLevelNoRegex] } } },
  { name: 'digits-individual',
    patch: { pre_tokenizer: { type: 'Sequence', pretokenizers: [
      { type: 'Digits', individual_digits: true },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true }] } } },
  { name: 'digits-grouped',
    patch: { pre_tokenizer: { type: 'Sequence', pretokenizers: [
      { type: 'Digits', individual_digits: false }, byteLevelNoRegex] } } },
  { name: 'bpe-ignore-merges',
    patch: { model_ignore_merges: true } },
  { name: 'added-token-flags',
    patch: { added_token_flags: {
      '<\uff5cUser\uff5c>': { lstrip: true, rstrip: true },
      '<\uff5cAssistant\uff5c>': { single_word: true },
      '<\uff5cend\u2581of\u2581sentence\uff5c>': { lstrip: true } } } },
];

function applyPatch(json, patch) {
  const copy = JSON.parse(JSON.stringify(json));
  if (patch.pre_tokenizer) copy.pre_tokenizer = patch.pre_tokenizer;
  if (patch.model_ignore_merges !== undefined) copy.model.ignore_merges = patch.model_ignore_merges;
  if (patch.added_token_flags) {
    for (const t of copy.added_tokens) {
      const flags = patch.added_token_flags[t.content];
      if (flags) Object.assign(t, flags);
    }
  }
  return copy;
}

function load(json) {
  const file = path.join(os.tmpdir(), `golden-tokenizer-${process.pid}-${Math.random()}.json`);
  fs.writeFileSync(file, JSON.stringify(json));
  const tok = Tokenizer.fromFile(file);
  fs.unlinkSync(file);
  return tok;
}

async function encodeAll(tok, list) {
  const out = [];
  for (const s of list) {
    const ids = (await tok.encode(s, null, { addSpecialTokens: false })).getIds();
    const decoded = ids.length === 0 ? '' : await tok.decode(ids, false);
    const decodedSkipSpecial = ids.length === 0 ? '' : await tok.decode(ids, true);
    out.push({ string: s, ids, decoded, decoded_skip_special: decodedSkipSpecial });
  }
  return out;
}

// Mulberry32: a tiny fixed-seed generator so the random id sequences are reproducible.
function mulberry32(seed) {
  return function () {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

(async () => {
  const tok = load(baseJson);
  const cases = await encodeAll(tok, strings);

  // Decodings of every id prefix of the short strings: the exact text (with U+FFFD where a
  // multi-byte character is cut) that a full decode gives for a partial sequence.
  const prefixDecodes = [];
  for (const c of cases) {
    if (c.ids.length === 0 || c.ids.length > 64) continue;
    const prefixes = [];
    for (let k = 1; k <= c.ids.length; k++) prefixes.push(await tok.decode(c.ids.slice(0, k), false));
    prefixDecodes.push({ ids: c.ids, prefixes });
  }

  // Random id sequences (fixed seed): mostly single-byte and short byte-level tokens, so that the
  // concatenated bytes are frequently invalid UTF-8, plus some added/special token ids.
  const rand = mulberry32(42);
  const vocab = baseJson.model.vocab;
  const shortIds = Object.entries(vocab).filter(([t]) => [...t].length <= 2).map(([, id]) => id);
  const addedIds = baseJson.added_tokens.map(t => t.id);
  const randomDecodes = [];
  for (let n = 0; n < 300; n++) {
    const len = 1 + Math.floor(rand() * 8);
    const ids = [];
    for (let i = 0; i < len; i++) {
      const r = rand();
      if (r < 0.1) ids.push(addedIds[Math.floor(rand() * addedIds.length)]);
      else if (r < 0.8) ids.push(shortIds[Math.floor(rand() * shortIds.length)]);
      else ids.push(Math.floor(rand() * 128000));
    }
    randomDecodes.push({ ids, decoded: await tok.decode(ids, false), decoded_skip_special: await tok.decode(ids, true) });
  }

  const variantOut = [];
  const variantStrings = strings.filter(s => s.length < 400);
  for (const v of variants) {
    const vt = load(applyPatch(baseJson, v.patch));
    const vc = await encodeAll(vt, variantStrings);
    variantOut.push({ name: v.name, patch: v.patch, cases: vc.map(c => ({ string: c.string, ids: c.ids, decoded: c.decoded })) });
  }

  const out = {
    generator: 'make_token_goldens.js with the npm package tokenizers@0.23.2 (Hugging Face tokenizers, Rust)',
    tokenizer: path.basename(path.dirname(path.resolve(tokenizerFile))) + '/' + path.basename(tokenizerFile),
    cases,
    prefix_decodes: prefixDecodes,
    random_decodes: randomDecodes,
    variants: variantOut,
  };
  fs.writeFileSync(outFile, JSON.stringify(out, null, 1) + '\n');
  console.log(`wrote ${cases.length} cases, ${prefixDecodes.length} prefix decodes, ${randomDecodes.length} random decodes, ${variantOut.length} variants to ${outFile}`);
})().catch(e => { console.error(e); process.exit(1); });

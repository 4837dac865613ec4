import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SPEC =
  /(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every module reachable from `entry` by static or dynamic imports (type-only imports included), with what it imports. */
function importGraph(entry: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const queue = [resolve(ROOT, entry)];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (graph.has(file)) continue;
    const source = readFileSync(file, 'utf8');
    const specs = [...source.matchAll(SPEC)].map((m) => m[1] ?? m[2]);
    graph.set(file, specs);
    for (const s of specs) if (s.startsWith('.')) queue.push(resolve(dirname(file), s));
  }
  return graph;
}

function externalImports(entry: string): Set<string> {
  const out = new Set<string>();
  for (const specs of importGraph(entry).values()) for (const s of specs) if (!s.startsWith('.')) out.add(s);
  return out;
}

test('the core entry point never loads TensorFlow.js', () => {
  const graph = importGraph('src/index.ts');
  assert.ok(graph.size > 10, 'the graph was followed');
  const tfjs = [...externalImports('src/index.ts')].filter((s) => s.startsWith('@tensorflow/'));
  assert.deepEqual(tfjs, []);
  assert.ok(![...graph.keys()].some((f) => f.includes(`${join('src', 'tfjs')}`)));
});

test('the checkpoint API is browser-safe; only its Node module touches the file system', () => {
  assert.deepEqual([...externalImports('src/checkpoint/index.ts')], []);
  const node = [...externalImports('src/checkpoint/node.ts')].sort();
  assert.deepEqual(node, ['node:fs', 'node:fs/promises', 'node:path']);
});

test('the tfjs adapter depends on tfjs-core only (no layers, no backend)', () => {
  const ext = [...externalImports('src/tfjs/index.ts')].filter((s) => !s.startsWith('node:'));
  assert.deepEqual(ext, ['@tensorflow/tfjs-core']);
});

test('package.json exposes the entry points and declares tfjs-core as a peer', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  assert.equal(pkg.exports['./tfjs'], './src/tfjs/index.ts');
  assert.equal(pkg.exports['./node'], './src/checkpoint/node.ts');
  assert.ok(pkg.peerDependencies['@tensorflow/tfjs-core']);
});

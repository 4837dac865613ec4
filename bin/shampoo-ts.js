#!/usr/bin/env node
// Launcher of the `shampoo-ts` command: the package ships TypeScript sources, so the CLI runs through
// tsx's loader (installed by `npm ci`).
let register;
try {
  ({ register } = await import('tsx/esm/api'));
} catch {
  process.stderr.write(
    "shampoo-ts: cannot load 'tsx', which runs the CLI's TypeScript sources; run `npm ci` first\n",
  );
  process.exit(1);
}
register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));

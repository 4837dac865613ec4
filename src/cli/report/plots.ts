import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** The shipped font (assets/fonts), so PNG text renders the same on every machine. */
export const FONT_FAMILY = 'DejaVu Sans';
const FONT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'assets', 'fonts');
export const FONT_FILES = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'].map((f) => join(FONT_DIR, f));

/** Most points per series drawn (every point stays in results.json). */
const MAX_POINTS = 400;

export interface PlotSeries {
  label: string;
  /** x values: step numbers or seconds. */
  x: readonly number[];
  /** Raw minibatch loss, drawn faint. */
  raw: readonly number[];
  /** Smoothed loss, drawn bold. */
  smoothed: readonly number[];
}

export interface PlotSpec {
  title: string;
  subtitle: string;
  xTitle: string;
  yTitle: string;
  series: readonly PlotSeries[];
}

/** Keeps at most `max` evenly spaced indices, always including the last one. */
export function thinIndices(length: number, max: number): number[] {
  if (length <= max) return Array.from({ length }, (_, i) => i);
  const out: number[] = [];
  for (let k = 0; k < max; k++) out.push(Math.round((k * (length - 1)) / (max - 1)));
  return [...new Set(out)];
}

/** A vega-lite spec: log-scale loss, faint raw curves under bold smoothed curves, one colour per optimizer. */
export function lossChartSpec(plot: PlotSpec): TopLevelSpec {
  const values: { optimizer: string; x: number; raw: number; smoothed: number }[] = [];
  for (const s of plot.series) {
    for (const i of thinIndices(s.x.length, MAX_POINTS)) {
      // Log scale: a non-positive or non-finite value cannot be drawn; leave it out rather than break the axis.
      if (!(s.raw[i] > 0 && Number.isFinite(s.raw[i]) && s.smoothed[i] > 0 && Number.isFinite(s.smoothed[i])))
        continue;
      values.push({ optimizer: s.label, x: s.x[i], raw: s.raw[i], smoothed: s.smoothed[i] });
    }
  }
  const order = plot.series.map((s) => s.label);
  const x = { field: 'x', type: 'quantitative' as const, title: plot.xTitle };
  const color = {
    field: 'optimizer',
    type: 'nominal' as const,
    sort: order,
    title: 'optimizer',
    scale: { scheme: 'tableau10' },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 640,
    height: 380,
    background: 'white',
    title: { text: plot.title, subtitle: plot.subtitle, anchor: 'start' },
    data: { values },
    layer: [
      {
        mark: { type: 'line', strokeWidth: 1, opacity: 0.22, clip: true },
        encoding: {
          x,
          y: { field: 'raw', type: 'quantitative', scale: { type: 'log', nice: false }, title: plot.yTitle },
          color,
          detail: { field: 'optimizer' },
        },
      },
      {
        mark: { type: 'line', strokeWidth: 2.2, clip: true },
        encoding: {
          x,
          y: {
            field: 'smoothed',
            type: 'quantitative',
            scale: { type: 'log', nice: false },
            title: plot.yTitle,
          },
          color,
        },
      },
    ],
    config: {
      font: FONT_FAMILY,
      axis: { labelFontSize: 11, titleFontSize: 12, gridOpacity: 0.6 },
      legend: {
        labelFontSize: 12,
        titleFontSize: 12,
        orient: 'right',
        symbolOpacity: 1,
        symbolStrokeWidth: 3,
      },
      title: { fontSize: 15, subtitleFontSize: 11, subtitleColor: '#555' },
    },
  };
}

/** Renders a vega-lite spec to SVG text (headless: no canvas, no browser). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const compiled = compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterizes SVG to PNG with resvg, using the shipped font (system fonts only as a fallback). */
export function svgToPng(svg: string, scale = 2): Uint8Array {
  const shipped = FONT_FILES.filter((f) => existsSync(f));
  const resvg = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: scale },
    font: {
      fontFiles: shipped,
      // Without the shipped font (a trimmed install), fall back to whatever the system has.
      loadSystemFonts: shipped.length === 0,
      defaultFontFamily: FONT_FAMILY,
      sansSerifFamily: FONT_FAMILY,
    },
  });
  return resvg.render().asPng();
}

/** uPlot wrappers: live line charts with a rolling window, and a chaos report's timeline. */
import uPlot from 'uplot';

/** Five minutes of points at one per second: enough to see a failover and what came after. */
export const WINDOW_POINTS = 300;
/** The x axis spans at least this many seconds, so the first points do not stretch over years. */
const MIN_SPAN_S = 60;

export interface SeriesSpec {
  readonly label: string;
  readonly stroke: string;
  /** Right-hand axis (a second unit on the same chart). */
  readonly right?: boolean;
}

function widthOf(el: HTMLElement): number {
  return Math.max(240, Math.floor(el.clientWidth) - 4);
}

/** A live chart: `push` appends a point (null = gap) and drops the oldest past WINDOW_POINTS. */
export class LiveChart {
  private readonly data: Array<Array<number | null>>;
  private readonly plot: uPlot;

  constructor(el: HTMLElement, title: string, series: readonly SeriesSpec[], units: readonly [string, string?]) {
    this.data = [[], ...series.map(() => [])];
    const hasRight = series.some((s) => s.right);
    const opts: uPlot.Options = {
      title,
      width: widthOf(el),
      height: 180,
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, scale: s.right ? 'r' : 'l', spanGaps: false }))],
      axes: [{}, { scale: 'l', label: units[0], size: 56 }, ...(hasRight ? [{ scale: 'r', side: 1, label: units[1] ?? '', grid: { show: false }, size: 70 }] : [])],
      scales: {
        x: { time: true, range: (_u, min, max) => [Math.max(max - WINDOW_POINTS, Math.min(min, max - MIN_SPAN_S)), max] },
        l: { range: (_u, _min, max) => [0, Math.max(1, max)] },
        r: { range: (_u, _min, max) => [0, Math.max(1, max)] },
      },
      legend: { live: false },
    };
    this.plot = new uPlot(opts, this.data as uPlot.AlignedData, el);
    new ResizeObserver(() => this.plot.setSize({ width: widthOf(el), height: 180 })).observe(el);
  }

  push(t: number, values: ReadonlyArray<number | null>): void {
    this.data[0]?.push(t);
    values.forEach((v, i) => this.data[i + 1]?.push(v));
    if ((this.data[0]?.length ?? 0) > WINDOW_POINTS) for (const col of this.data) col.shift();
    this.plot.setData(this.data as uPlot.AlignedData);
  }
}

export interface FaultBand {
  readonly from: number;
  readonly to: number;
}

/** A chaos run: successes and failures per bucket (x in seconds from the start), the fault shaded. */
export function reportChart(el: HTMLElement, xs: number[], ok: number[], failed: number[], faults: readonly FaultBand[]): uPlot {
  const shade = (u: uPlot): void => {
    const ctx = u.ctx;
    ctx.save();
    ctx.fillStyle = 'rgba(244, 180, 0, 0.18)';
    for (const f of faults) {
      const x0 = u.valToPos(f.from, 'x', true);
      const x1 = u.valToPos(f.to, 'x', true);
      ctx.fillRect(x0, u.bbox.top, Math.max(1, x1 - x0), u.bbox.height);
    }
    ctx.restore();
  };
  const bars = uPlot.paths.bars?.({ size: [1, 100] });
  const opts: uPlot.Options = {
    width: widthOf(el),
    height: 200,
    series: [
      { label: 's' },
      { label: 'ok', stroke: '#2e9d5b', fill: 'rgba(46,157,91,0.5)', ...(bars ? { paths: bars } : {}) },
      { label: 'failed', stroke: '#d0463b', fill: 'rgba(208,70,59,0.7)', ...(bars ? { paths: bars } : {}) },
    ],
    scales: { x: { time: false } },
    axes: [{ label: 'seconds into the run' }, { label: 'requests / 100 ms', size: 56 }],
    hooks: { drawClear: [shade] },
  };
  const plot = new uPlot(opts, [xs, ok, failed], el);
  new ResizeObserver(() => plot.setSize({ width: widthOf(el), height: 200 })).observe(el);
  return plot;
}

/** A small step chart in SVG (one step per consensus), drawn with the DOM helpers only. */
import { svg } from "./dom.js";
import { formatClock } from "./format.js";
import type { Sample } from "./history.js";

const WIDTH = 320;
const HEIGHT = 120;
const PAD = { left: 8, right: 8, top: 22, bottom: 18 };

export interface Series {
  title: string;
  value: (s: Sample) => number;
  format: (v: number) => string;
}

export function stepChart(samples: readonly Sample[], series: Series): SVGElement {
  const chart = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", class: "chart" });
  const last = samples.at(-1);
  const heading = last === undefined ? series.title : `${series.title}: ${series.format(series.value(last))}`;
  chart.append(svg("title", {}, heading), svg("text", { x: String(PAD.left), y: "14", class: "chart-title" }, heading));
  if (samples.length < 2 || last === undefined) {
    chart.append(svg("text", { x: String(WIDTH / 2), y: String(HEIGHT / 2 + 8), class: "chart-note", "text-anchor": "middle" }, "collecting: one point per consensus"));
    return chart;
  }
  const t0 = samples[0].at;
  // The newest value holds until the next consensus: give it one period of width.
  const end = last.at + (last.at - samples[samples.length - 2].at);
  const span = Math.max(1, end - t0);
  const max = Math.max(1, ...samples.map(series.value));
  const x = (at: number) => PAD.left + ((at - t0) / span) * (WIDTH - PAD.left - PAD.right);
  const y = (v: number) => HEIGHT - PAD.bottom - (v / max) * (HEIGHT - PAD.top - PAD.bottom);
  let path = `M${x(t0).toFixed(1)},${y(series.value(samples[0])).toFixed(1)}`;
  for (const s of samples.slice(1)) path += ` H${x(s.at).toFixed(1)} V${y(series.value(s)).toFixed(1)}`;
  path += ` H${x(end).toFixed(1)}`;
  const seconds = span < 10 * 60_000;
  const base = HEIGHT - PAD.bottom;
  chart.append(
    svg("line", { x1: String(PAD.left), x2: String(WIDTH - PAD.right), y1: String(base), y2: String(base), class: "chart-axis" }),
    svg("line", { x1: String(PAD.left), x2: String(WIDTH - PAD.right), y1: String(PAD.top), y2: String(PAD.top), class: "chart-grid" }),
    svg("text", { x: String(WIDTH - PAD.right), y: String(PAD.top - 3), class: "chart-label", "text-anchor": "end" }, series.format(max)),
    svg("path", { d: path, class: "chart-line" }),
    svg("text", { x: String(PAD.left), y: String(HEIGHT - 4), class: "chart-label" }, formatClock(new Date(t0), seconds)),
    svg("text", { x: String(WIDTH - PAD.right), y: String(HEIGHT - 4), class: "chart-label", "text-anchor": "end" }, formatClock(new Date(end), seconds)),
  );
  return chart;
}

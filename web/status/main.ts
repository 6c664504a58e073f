/**
 * The status page's entry point: follows this authority's consensus live and renders the
 * consensus panel, the history charts, the relay table and the detail dialog from each one.
 */
import { catArt } from "./cat.js";
import { stepChart } from "./chart.js";
import { renderConsensus } from "./consensus-panel.js";
import { byId, fill } from "./dom.js";
import { followConsensus, type FeedState } from "./feed.js";
import { formatRate } from "./format.js";
import { History } from "./history.js";
import { RelayDetail } from "./relay-detail.js";
import { RelayTable } from "./relay-table.js";
import { buildView } from "./view.js";

const history = new History();
const detail = new RelayDetail(byId<HTMLDialogElement>("detail"));
const table = new RelayTable(
  byId<HTMLTableElement>("relays"),
  byId<HTMLInputElement>("filter"),
  byId<HTMLSelectElement>("flag-filter"),
  byId("relay-count"),
  (id) => detail.show(id),
);

function showState(state: FeedState): void {
  byId("cat").textContent = catArt(state.kind);
  const text =
    state.kind === "live" ? "live: updates with every new consensus" : state.kind === "connecting" ? "connecting…" : `reconnecting in ${state.inSeconds} s (${state.reason})`;
  const status = byId("connection");
  status.textContent = text;
  status.className = `status status-${state.kind}`;
}

void followConsensus(async (snapshot) => {
  const view = await buildView(snapshot);
  history.record({ at: view.validAfter?.getTime() ?? view.receivedAt.getTime(), relays: view.relays.length, bandwidth: Number(view.totals.total) });
  renderConsensus(byId("consensus-facts"), byId<HTMLTableElement>("signatures"), view);
  const samples = history.samples();
  fill(
    byId("charts"),
    stepChart(samples, { title: "Relays", value: (s) => s.relays, format: (v) => String(v) }),
    stepChart(samples, { title: "Total bandwidth weight", value: (s) => s.bandwidth, format: (v) => formatRate(BigInt(Math.round(v))) }),
  );
  table.update(view.relays);
  detail.update(view);
}, showState);

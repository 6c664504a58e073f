/**
 * The relay list: one row per relay of the current consensus, sortable by any column (click
 * its header; again to reverse) and filtered by text and flag. Rows are rebuilt from the
 * newest consensus on every update, keeping the sort, the filter and the focus row.
 */
import { RelayFlag, RelayFlagSchema } from "../../gen/meowonion/v1/consensus_pb.js";
import { h, fill, type Child } from "./dom.js";
import { formatDuration, formatRate } from "./format.js";
import { flagName, type RelayRow } from "./model.js";

type SortValue = string | number | bigint | undefined;

interface Column {
  key: string;
  label: string;
  sort: (r: RelayRow) => SortValue;
  cell: (r: RelayRow) => Child;
  /** Quantities, right-aligned. */
  quantity?: boolean;
}

export class RelayTable {
  private rows: RelayRow[] = [];
  private names = new Map<string, string>();
  private sortKey = "nickname";
  private descending = false;
  private readonly columns: Column[];
  private readonly body = h("tbody");
  private readonly headers = new Map<string, HTMLTableCellElement>();

  constructor(
    private readonly table: HTMLTableElement,
    private readonly filter: HTMLInputElement,
    private readonly flagFilter: HTMLSelectElement,
    private readonly count: HTMLElement,
    private readonly onSelect: (id: string) => void,
  ) {
    this.columns = [
      { key: "nickname", label: "Nickname", sort: (r) => r.nickname.toLowerCase(), cell: (r) => h("button", { type: "button", class: "link", "data-id": r.id }, r.nickname) },
      { key: "fingerprint", label: "Fingerprint", sort: (r) => r.fingerprint, cell: (r) => h("code", { title: r.fingerprint }, r.fingerprint.slice(0, 16)) },
      { key: "address", label: "Address", sort: (r) => r.addresses.join(" "), cell: (r) => r.addresses.join(" ") },
      { key: "flags", label: "Flags", sort: (r) => r.flags.length, cell: (r) => flagBadges(r.flags) },
      { key: "advertised", label: "Advertised", sort: (r) => r.advertised, cell: (r) => formatRate(r.advertised), quantity: true },
      { key: "observed", label: "Observed", sort: (r) => r.observed, cell: (r) => formatRate(r.observed), quantity: true },
      { key: "uptime", label: "Uptime", sort: (r) => r.uptimeSeconds, cell: (r) => formatDuration(r.uptimeSeconds), quantity: true },
      { key: "exit", label: "Exit policy", sort: (r) => r.exitSummary, cell: (r) => r.exitSummary },
      { key: "family", label: "Family", sort: (r) => r.family.length, cell: (r) => this.familyNames(r) || "—" },
    ];
    const headRow = h("tr");
    for (const column of this.columns) {
      const button = h("button", { type: "button" }, column.label);
      button.addEventListener("click", () => this.sortBy(column.key));
      const th = h("th", { scope: "col", class: column.quantity ? "num" : undefined }, button);
      this.headers.set(column.key, th);
      headRow.append(th);
    }
    fill(table, h("thead", {}, headRow), this.body);
    for (const value of RelayFlagSchema.values) {
      if (value.number === RelayFlag.UNSPECIFIED) continue;
      const label = flagName(value.number);
      flagFilter.append(h("option", { value: label }, label));
    }
    filter.addEventListener("input", () => this.render());
    flagFilter.addEventListener("change", () => this.render());
    this.body.addEventListener("click", (event) => {
      const id = (event.target as Element).closest("button[data-id]")?.getAttribute("data-id");
      if (id) this.onSelect(id);
    });
  }

  update(rows: RelayRow[]): void {
    this.rows = rows;
    this.names = new Map(rows.map((r) => [r.id, r.nickname]));
    this.render();
  }

  private sortBy(key: string): void {
    this.descending = this.sortKey === key ? !this.descending : false;
    this.sortKey = key;
    this.render();
  }

  private render(): void {
    const column = this.columns.find((c) => c.key === this.sortKey)!;
    const query = this.filter.value.trim().toLowerCase();
    const flag = this.flagFilter.value;
    const shown = this.rows
      .filter((r) => (flag === "" || r.flags.includes(flag)) && (query === "" || searchText(r, this.familyNames(r)).includes(query)))
      .sort((a, b) => compare(column.sort(a), column.sort(b), this.descending));
    fill(
      this.body,
      ...shown.map((r) => h("tr", { "data-id": r.id }, ...this.columns.map((c) => h("td", { "data-label": c.label, class: c.quantity ? "num" : undefined }, c.cell(r))))),
    );
    for (const [key, th] of this.headers) th.setAttribute("aria-sort", key === this.sortKey ? (this.descending ? "descending" : "ascending") : "none");
    this.count.textContent = shown.length === this.rows.length ? `${this.rows.length} relays` : `${shown.length} of ${this.rows.length} relays`;
  }

  private familyNames(r: RelayRow): string {
    return r.family.map((id) => this.names.get(id) ?? id.slice(0, 8)).join(", ");
  }
}

export function flagBadges(flags: string[]): HTMLElement {
  return h("span", { class: "flags" }, ...flags.map((f) => h("span", { class: `flag flag-${f.toLowerCase()}` }, f)));
}

function searchText(r: RelayRow, family: string): string {
  return [r.nickname, r.fingerprint, r.id, ...r.addresses, ...r.flags, r.exitSummary, family].join(" ").toLowerCase();
}

/** Ascending or descending; rows without a value (no vote read) always last. */
function compare(a: SortValue, b: SortValue, descending: boolean): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? 1 : -1;
  const order = a < b ? -1 : a > b ? 1 : 0;
  return descending ? -order : order;
}

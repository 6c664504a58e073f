/**
 * The consensus's health: its validity times, what it lists, and each authority's signature
 * (present, valid, how many are needed: a majority of the authorities it names).
 */
import { fact, fill, h } from "./dom.js";
import { formatRate, formatTime } from "./format.js";
import type { View } from "./view.js";

const STATUS_TEXT = {
  valid: "signed, valid",
  invalid: "signed, INVALID",
  missing: "not signed",
  unchecked: "signed (not checked: no Ed25519 in this browser or page context)",
} as const;

export function renderConsensus(facts: HTMLElement, signatures: HTMLTableElement, view: View, now = new Date()): void {
  const present = view.authorities.filter((a) => a.status !== "missing").length;
  const invalid = view.authorities.some((a) => a.status === "invalid");
  const count = (flag: string) => view.relays.filter((r) => r.flags.includes(flag)).length;
  fill(
    facts,
    ...fact("Valid after", formatTime(view.validAfter)),
    ...fact("Fresh until", formatTime(view.freshUntil)),
    ...fact("Valid until", formatTime(view.validUntil)),
    ...fact("Freshness", freshness(view, now)),
    ...fact("Relays", `${view.relays.length} listed: ${count("Exit")} Exit, ${count("Guard")} Guard, ${count("Stable")} Stable, ${count("Fast")} Fast`),
    ...fact("Bandwidth weights", `${formatRate(view.totals.total)} in all, ${formatRate(view.totals.guard)} Guard, ${formatRate(view.totals.exit)} Exit`),
    ...fact(
      "Signatures",
      h(
        "span",
        { class: present >= view.signaturesNeeded && !invalid ? "ok" : "warning" },
        `${present} of ${view.authorities.length} authorities, ${view.signaturesNeeded} needed${invalid ? ", some INVALID" : ""}`,
      ),
    ),
    ...fact("Shared random value", view.sharedRandom ?? "none (an authority older than shared randomness)"),
    ...fact("Received", formatTime(view.receivedAt)),
  );
  if (!view.voteRead) facts.append(...fact("Note", "This authority's vote for the period was not available: bandwidth and uptime are unknown."));
  fill(
    signatures,
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Authority key"), h("th", { scope: "col" }, "Signature"))),
    h(
      "tbody",
      {},
      ...view.authorities.map((a) => h("tr", {}, h("td", {}, h("code", { title: a.key }, a.key.slice(0, 16))), h("td", { class: `sig-${a.status}` }, STATUS_TEXT[a.status]))),
    ),
  );
}

function freshness(view: View, now: Date): string {
  if (view.validUntil !== undefined && now >= view.validUntil) return "expired: clients no longer use it";
  if (view.freshUntil !== undefined && now >= view.freshUntil) return "stale: a newer one is due";
  return "fresh";
}

/**
 * The per-relay view (a modal dialog): everything the consensus and this authority's vote say
 * about one relay, with its whole exit policy in order and its family. It follows live
 * updates while open, and says so when the relay drops out of the consensus.
 */
import { byId, fact, fill, h } from "./dom.js";
import { formatDuration, formatRate, formatTime } from "./format.js";
import type { RelayRow } from "./model.js";
import { flagBadges } from "./relay-table.js";
import type { View } from "./view.js";

export class RelayDetail {
  private id: string | undefined;
  private view: View | undefined;
  private readonly body: HTMLElement;

  constructor(private readonly dialog: HTMLDialogElement) {
    this.body = byId("detail-body");
    byId("detail-close").addEventListener("click", () => dialog.close());
    // A family member's name opens that relay.
    this.body.addEventListener("click", (event) => {
      const id = (event.target as Element).closest("button[data-id]")?.getAttribute("data-id");
      if (id) this.show(id);
    });
  }

  show(id: string): void {
    this.id = id;
    this.render();
    if (!this.dialog.open) this.dialog.showModal();
  }

  update(view: View): void {
    this.view = view;
    if (this.dialog.open) this.render();
  }

  private render(): void {
    const relays = this.view?.relays ?? [];
    const relay = relays.find((r) => r.id === this.id);
    if (relay === undefined) {
      fill(
        this.body,
        h("h2", { id: "detail-title" }, "Relay not listed"),
        h("p", { class: "warning" }, `This relay is not in the current consensus (valid after ${formatTime(this.view?.validAfter)}).`),
        h("p", {}, "Identity key: ", h("code", {}, this.id ?? "")),
      );
      return;
    }
    const byId = new Map(relays.map((r) => [r.id, r]));
    fill(
      this.body,
      h("h2", { id: "detail-title" }, relay.nickname),
      h(
        "dl",
        { class: "facts" },
        ...fact("Fingerprint", h("code", {}, relay.fingerprint)),
        ...fact("Identity key", h("code", {}, relay.id)),
        ...fact("Addresses", relay.addresses.join(", ")),
        ...fact("Flags", flagBadges(relay.flags)),
        ...fact("Consensus weight", formatRate(relay.weight)),
        ...fact("Advertised bandwidth", `${formatRate(relay.advertised)} (burst ${formatRate(relay.burst)})`),
        ...fact("Observed bandwidth", relay.observed === undefined ? "not measured by the relay yet" : formatRate(relay.observed)),
        ...fact("Uptime", `${formatDuration(relay.uptimeSeconds)} (continuously Running, as this authority measured at the period start)`),
        ...fact("Descriptor published", formatTime(relay.published)),
        ...fact("Descriptor expires", formatTime(relay.expires)),
        ...fact("Software", relay.software ?? "—"),
        ...fact("Features", relay.features.join(", ") || "none"),
        ...fact("Descriptor digest", h("code", {}, relay.descriptorDigest)),
      ),
      h("h3", {}, "Exit policy"),
      relay.exitRules.length === 0
        ? h("p", {}, "No rules: every stream is rejected (not an exit).")
        : h("ol", { class: "policy" }, ...relay.exitRules.map((rule) => h("li", {}, h("code", {}, rule)))),
      h("p", { class: "note" }, "First matching rule decides; a destination no rule matches is rejected."),
      h("h3", {}, "Family"),
      relay.family.length === 0 ? h("p", {}, "No family declared.") : h("ul", { class: "family" }, ...relay.family.map((id) => familyItem(relay, id, byId.get(id)))),
    );
  }
}

/** Two relays are one family only if each lists the other (descriptor.proto). */
function familyItem(relay: RelayRow, id: string, member: RelayRow | undefined): HTMLElement {
  if (member === undefined) return h("li", {}, h("code", {}, id.slice(0, 16)), " (not in this consensus)");
  const mutual = member.family.includes(relay.id) ? "lists it back: one family" : "does not list it back: not one family";
  return h("li", {}, h("button", { type: "button", class: "link", "data-id": member.id }, member.nickname), ` (${mutual})`);
}

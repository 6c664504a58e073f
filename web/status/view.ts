/** One consensus as the page shows it: the model's rows plus what WebCrypto adds. */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Snapshot } from "./feed.js";
import { toHex } from "./format.js";
import { relayRow, sharedRandomValue, voteEntries, type RelayRow } from "./model.js";
import { authorityStatuses, fingerprintOf, signaturesNeeded, type AuthorityStatus } from "./webcrypto.js";

export interface View {
  validAfter: Date | undefined;
  freshUntil: Date | undefined;
  validUntil: Date | undefined;
  receivedAt: Date;
  relays: RelayRow[];
  totals: { total: bigint; guard: bigint; exit: bigint };
  authorities: AuthorityStatus[];
  signaturesNeeded: number;
  sharedRandom: string | undefined;
  /** Whether this authority's vote (descriptors, uptimes) was there to read. */
  voteRead: boolean;
}

export async function buildView({ signed, consensus, vote, receivedAt }: Snapshot): Promise<View> {
  const known = voteEntries(vote);
  const relays = await Promise.all(
    consensus.relays.map(async (relay) => relayRow(relay, await fingerprintOf(relay.identityKey), known.get(toHex(relay.identityKey)))),
  );
  const date = (ts: typeof consensus.validAfter) => (ts === undefined ? undefined : timestampDate(ts));
  return {
    validAfter: date(consensus.validAfter),
    freshUntil: date(consensus.freshUntil),
    validUntil: date(consensus.validUntil),
    receivedAt,
    relays,
    totals: {
      total: consensus.totals?.total ?? 0n,
      guard: consensus.totals?.guard ?? 0n,
      exit: consensus.totals?.exit ?? 0n,
    },
    authorities: await authorityStatuses(signed, consensus.authorityKeys),
    signaturesNeeded: signaturesNeeded(consensus.authorityKeys.length),
    sharedRandom: sharedRandomValue(consensus),
    voteRead: vote !== undefined,
  };
}

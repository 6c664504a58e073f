/** The MeowOnion cat (as in the proxy's terminal UI); its eyes say how the live feed is doing. */
import type { FeedState } from "./feed.js";

const EYES: Record<FeedState["kind"], string> = {
  connecting: "-   -",
  live: "o   o",
  retrying: "x   x",
};

export function catArt(state: FeedState["kind"]): string {
  return ["    /\\_____/\\", `   /  ${EYES[state]}  \\`, "  ( ==  ^  == )", "   )         (", "  (           )", " ( (  )   (  ) )", "(__(__)___(__)__)"].join("\n");
}

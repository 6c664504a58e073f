/**
 * The MeowOnion cat (from the seed paper: "a kind, charming creature" so that using an onion
 * network feels friendly). Its face follows what the proxy is doing, and it says so.
 */
import { Box, Text } from "ink";

export type CatMood = "sleepy" | "happy" | "busy" | "delighted" | "upset" | "confused";

const EYES: Record<CatMood, string> = {
  sleepy: "-   -",
  happy: "o   o",
  busy: "o   O",
  delighted: "^   ^",
  upset: "x   x",
  confused: "?   ?",
};

const COLORS: Record<CatMood, string> = {
  sleepy: "gray",
  happy: "green",
  busy: "yellow",
  delighted: "magenta",
  upset: "red",
  confused: "yellow",
};

/** The cat's lines for a mood (exported for tests and for the README capture). */
export function catArt(mood: CatMood): string[] {
  return [
    "    /\\_____/\\",
    `   /  ${EYES[mood]}  \\`,
    "  ( ==  ^  == )",
    "   )         (",
    "  (           )",
    " ( (  )   (  ) )",
    "(__(__)___(__)__)",
  ];
}

export function Cat(props: { mood: CatMood; says: string }) {
  const lines = catArt(props.mood);
  return (
    <Box flexDirection="row">
      <Box flexDirection="column" marginRight={2}>
        {lines.map((line, i) => (
          <Text key={i} color={COLORS[props.mood]}>
            {line}
          </Text>
        ))}
      </Box>
      <Box flexDirection="column" justifyContent="center">
        <Text>{" .-" + "-".repeat(Math.min(props.says.length, 60)) + "-."}</Text>
        <Text>
          {"< "}
          <Text bold>{props.says.length > 60 ? `${props.says.slice(0, 59)}…` : props.says}</Text>
          {" >"}
        </Text>
        <Text>{" '-" + "-".repeat(Math.min(props.says.length, 60)) + "-'"}</Text>
      </Box>
    </Box>
  );
}

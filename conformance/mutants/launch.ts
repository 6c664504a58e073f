/**
 * Launches the suite's reference network (conformance/lib/ref) in this process, clean or with one
 * mutant's fault, and prints the launch lines the runner reads (README "The --launch line
 * format"). A worked example of a --launch command. Stops on SIGTERM/SIGINT.
 *
 *   npm run conformance -- --launch 'node --import tsx conformance/mutants/launch.ts [--mutant NAME]'
 */
import { findMutant } from "./catalog.js";
import { startReference } from "./reference.js";

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const name = opt("--mutant");
const mutant = name === undefined ? undefined : findMutant(name);
if (name !== undefined && (!mutant || mutant.front)) {
  process.stderr.write(`unknown reference mutant ${name}\n`);
  process.exit(2);
}
const net = await startReference(mutant, Number(opt("--interval") ?? 2));
process.stdout.write(`# reference network${mutant ? `, mutant ${mutant.name}: ${mutant.breaks}` : " (clean)"}\n`);
for (const l of net.lines()) process.stdout.write(`${l}\n`);

const stop = async () => {
  await net.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

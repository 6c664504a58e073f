// Fetch a page through MeowOnion, by address or by .meow name:
//   node examples/fetch-page.mjs DIRECTORY_URL DIRECTORY_KEY PAGE_URL
// `npx meowonion network` prints an authority's URL and key, an http:// destination and a
// .meow onion service to try (e.g. PAGE_URL http://127.0.0.1:45953/meow).
// In a clone, `npm run build` first: "meowonion" resolves to this package's dist/.
import { MeowOnion } from "meowonion";

const [url, key, page] = process.argv.slice(2);
const client = await MeowOnion.createBootstrapped({
  directories: [{ url, key }],
  enforceDistinctSubnets: false, // where a local network's relays share 127.0.0.1 (not on Linux: docs/network.md)
  signal: AbortSignal.timeout(60_000),
});
try {
  const response = await client.fetch(page);
  console.log(`${response.status} ${response.headers.get("content-type")}`);
  console.log(await response.text());
} finally {
  await client.close();
}

/**
 * Entry point of the terminal UI: `startTui({ controlUrl, socksAddress })` renders the app with
 * ink on the given terminal and resolves once it is on screen. The caller awaits
 * `waitUntilExit()` (the user pressed q or Ctrl-C) and then shuts its nodes down.
 */
import { render } from "ink";
import { App, type SendFn } from "./app.js";
import { createControlClient } from "./control.js";

export { App, catState, type AppProps, type SendFn } from "./app.js";
export { createControlClient, type ControlClient } from "./control.js";
export { exchangeMessage, type ExchangeResult } from "./exchange.js";

export interface TuiOptions {
  /** The proxy's ControlService, e.g. "http://127.0.0.1:9051". */
  controlUrl: string;
  /** The proxy's SOCKS listener, HOST:PORT. */
  socksAddress: string;
  /** Pre-filled destination for the prompt (e.g. the local meow echo server). */
  defaultDestination?: string;
  send?: SendFn;
  stdin?: NodeJS.ReadStream;
  stdout?: NodeJS.WriteStream;
}

export interface TuiHandle {
  /** Resolves when the user quit (q / Ctrl-C) or `unmount()` was called. */
  waitUntilExit(): Promise<void>;
  unmount(): void;
}

export async function startTui(options: TuiOptions): Promise<TuiHandle> {
  const control = createControlClient(options.controlUrl);
  const instance = render(
    <App
      control={control.client}
      socksAddress={options.socksAddress}
      controlUrl={options.controlUrl}
      defaultDestination={options.defaultDestination}
      send={options.send}
    />,
    {
      stdin: options.stdin ?? process.stdin,
      stdout: options.stdout ?? process.stdout,
      // Ctrl-C arrives as a key in raw mode; the app handles it like 'q' (ink then exits).
      exitOnCtrlC: true,
      // Logs go to stderr as JSON lines; leave console alone.
      patchConsole: false,
    },
  );
  let closed = false;
  const exited = instance.waitUntilExit().finally(() => {
    if (!closed) {
      closed = true;
      control.close();
    }
  });
  return {
    waitUntilExit: () => exited.then(() => undefined),
    unmount: () => {
      instance.unmount();
    },
  };
}

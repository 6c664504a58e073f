/**
 * Keeps a ProxyView up to date from the ControlService: GetStatus and ListCircuits once a
 * second (byte counters move without events), WatchEvents for state changes and bandwidth.
 * The event stream reconnects after a second if it breaks.
 */
import { useEffect, useReducer } from "react";
import type { ControlClient } from "./control.js";
import { initialProxyView, proxyViewReducer, type ProxyView } from "./proxy-view.js";

export const POLL_MS = 1_000;

export function useProxyView(control: ControlClient, pollMs = POLL_MS): ProxyView {
  const [view, dispatch] = useReducer(proxyViewReducer, initialProxyView);

  useEffect(() => {
    const abort = new AbortController();
    const { signal } = abort;
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const onAbort = () => {
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(() => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        }, ms);
        signal.addEventListener("abort", onAbort, { once: true });
      });
    const describe = (err: unknown) => (err instanceof Error ? err.message : String(err));

    async function poll(): Promise<void> {
      while (!signal.aborted) {
        try {
          const [status, list] = await Promise.all([
            control.getStatus({}, { signal, timeoutMs: 5_000 }),
            control.listCircuits({}, { signal, timeoutMs: 5_000 }),
          ]);
          if (signal.aborted) return;
          dispatch({ type: "status", status });
          dispatch({ type: "circuits", circuits: list.circuits, now: Date.now() });
        } catch (err) {
          if (signal.aborted) return;
          dispatch({ type: "error", message: `control port: ${describe(err)}` });
        }
        dispatch({ type: "prune", now: Date.now() });
        await sleep(pollMs);
      }
    }

    async function watch(): Promise<void> {
      while (!signal.aborted) {
        try {
          for await (const ev of control.watchEvents({}, { signal })) {
            switch (ev.event.case) {
              case "status":
                dispatch({ type: "status", status: ev.event.value });
                break;
              case "circuit":
                dispatch({ type: "circuit", circuit: ev.event.value, now: Date.now() });
                break;
              case "bandwidth":
                dispatch({
                  type: "bandwidth",
                  read: Number(ev.event.value.bytesRead),
                  written: Number(ev.event.value.bytesWritten),
                });
                break;
              default:
                break;
            }
          }
        } catch (err) {
          if (signal.aborted) return;
          dispatch({ type: "error", message: `control events: ${describe(err)}` });
        }
        await sleep(1_000);
      }
    }

    void poll();
    void watch();
    return () => abort.abort();
  }, [control, pollMs]);

  return view;
}

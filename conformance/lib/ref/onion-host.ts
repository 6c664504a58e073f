/**
 * The reference network's ControlService, only AddOnionService and RemoveOnionService
 * (control.proto): each service is the suite's own (../onion-service.ts) on the reference
 * network, with the mutant's service faults if any. The other methods answer UNIMPLEMENTED.
 */
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { ControlService } from "../../../gen/meowonion/v1/control_pb.js";
import { directoryClient } from "../directory-client.js";
import { verifyConsensus } from "../documents.js";
import { type OnionServiceFaults, SuiteOnionService } from "../onion-service.js";
import { type Served, serveConnect } from "./serve.js";

export class RefOnionHost {
  url = "";
  private served: Served | undefined;
  private services = new Map<string, SuiteOnionService>();

  constructor(
    private readonly directory: { url: string; key: Uint8Array },
    private readonly faults: OnionServiceFaults = {},
  ) {}

  private routes = (router: ConnectRouter) => {
    router.service(ControlService, {
      addOnionService: async (req) => {
        const ports = req.ports.map((p) => {
          const m = /^(.+):(\d+)$/.exec(p.target);
          if (!m || p.virtualPort < 1 || p.virtualPort > 65535) throw new ConnectError(`bad port mapping ${p.virtualPort} -> ${p.target}`, Code.InvalidArgument);
          return { virtualPort: p.virtualPort, host: m[1], port: Number(m[2]) };
        });
        if (!ports.length) throw new ConnectError("at least one port", Code.InvalidArgument);
        if (req.identitySeed.length !== 0 && req.identitySeed.length !== 32) throw new ConnectError("identity_seed must be 32 bytes", Code.InvalidArgument);
        const signed = (await directoryClient(this.directory.url).getConsensus({})).consensus;
        const v = signed ? verifyConsensus(signed, this.directory.key) : undefined;
        if (!v?.consensus) throw new ConnectError("no consensus", Code.FailedPrecondition);
        let s: SuiteOnionService;
        try {
          s = await SuiteOnionService.start({ consensus: v.consensus, ports, seed: req.identitySeed.length ? req.identitySeed : undefined, faults: this.faults });
        } catch (e) {
          throw new ConnectError((e as Error).message, Code.Unavailable);
        }
        if (this.services.has(s.address)) {
          s.stop();
          throw new ConnectError("that service runs already", Code.AlreadyExists);
        }
        this.services.set(s.address, s);
        return { address: s.address, identitySeed: s.identity.seed };
      },
      removeOnionService: (req) => {
        const s = this.services.get(req.address);
        if (!s) throw new ConnectError("no such service", Code.NotFound);
        s.stop();
        this.services.delete(req.address);
        return {};
      },
    });
  };

  async start(): Promise<void> {
    this.served = await serveConnect(this.routes);
    this.url = this.served.url;
  }

  async stop(): Promise<void> {
    for (const s of this.services.values()) s.stop();
    this.services.clear();
    await this.served?.stop();
  }
}

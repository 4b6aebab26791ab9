import type { types as ms } from 'mediasoup';

/** A producer piped into another router; closing it frees both pipe transports. */
export interface Pipe {
  producer: ms.Producer;
  close(): void;
}

/**
 * Pipes `producer` from its router into `to`, which may live in the same worker.
 *
 * mediasoup 3.15's `router.pipeToRouter()` gives the piped producer the original's id, which a
 * worker refuses twice ("Channel request handler … already exists"), so it cannot join two routers
 * of one worker; its `keepId: false` fix came in a later release. This does the same with the
 * public primitives: a PipeTransport pair on loopback, a pipe consumer, a producer with a fresh id,
 * and pause/resume/close carried across.
 */
export async function pipeProducer(producer: ms.Producer, from: ms.Router, to: ms.Router, portRange: { min: number; max: number }): Promise<Pipe> {
  const listenInfo: ms.TransportListenInfo = { protocol: 'udp', ip: '127.0.0.1', portRange };
  const transports: ms.PipeTransport[] = [];
  const closeAll = (): void => {
    for (const t of transports) if (!t.closed) t.close();
  };
  try {
    const local = await from.createPipeTransport({ listenInfo });
    transports.push(local);
    const remote = await to.createPipeTransport({ listenInfo });
    transports.push(remote);
    // One side gone (its router closed) takes the other with it, so no socket is left behind.
    local.observer.once('close', closeAll);
    remote.observer.once('close', closeAll);
    await local.connect({ ip: remote.tuple.localAddress, port: remote.tuple.localPort });
    await remote.connect({ ip: local.tuple.localAddress, port: local.tuple.localPort });

    const consumer = await local.consume({ producerId: producer.id });
    const piped = await remote.produce({ kind: consumer.kind, rtpParameters: consumer.rtpParameters, paused: consumer.producerPaused });
    consumer.observer.on('pause', () => void piped.pause().catch(() => undefined));
    consumer.observer.on('resume', () => void piped.resume().catch(() => undefined));
    consumer.observer.once('close', closeAll);
    piped.observer.once('close', closeAll);
    // The original may have changed while the pair was being made.
    if (producer.closed) throw new Error('producer closed while piping');
    if (producer.paused !== piped.paused) await (producer.paused ? piped.pause() : piped.resume());
    return { producer: piped, close: closeAll };
  } catch (err) {
    closeAll();
    throw err;
  }
}

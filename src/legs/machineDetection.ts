import type { Logger } from 'pino';
import { AnsweringMachineDetector } from '../media/audio/answeringMachine.js';
import type { ConversationBridge } from '../media/bridge/conversationBridge.js';
import { Tap } from '../media/bridge/sources.js';
import type { SipCall } from './sipCall.js';
import type { SipLegRunner } from './sipLegRunner.js';

/**
 * Listens to the callee's first seconds (a tap on its own audio) for answering-machine
 * detection; the verdict is logged as `sip:machine`, and with `hangup` a machine is hung up on.
 */
export function detectAnsweringMachine(call: SipCall, bridge: ConversationBridge, runner: SipLegRunner, mode: 'continue' | 'hangup', logger: Logger): void {
  const detector = new AnsweringMachineDetector();
  const tap: Tap = new Tap(
    `amd-${runner.id}`,
    runner.id,
    (frame) => {
      const verdict = detector.feed(frame);
      if (!verdict) return;
      tap.end('done');
      // Decided inside the bridge's tick: act after it.
      setImmediate(() => {
        logger.info({ leg_id: runner.id, verdict: verdict.type, reason: verdict.reason }, 'answering-machine detection');
        runner.send({ type: 'MACHINE', verdict: verdict.type, confidence: verdict.confidence });
        if (mode === 'hangup' && verdict.type === 'machine') runner.hangup('api', 'answering machine');
      });
    },
    () => undefined,
  );
  // The call owns the tap: it ends with the call, whatever the verdict.
  call.attachTap(bridge, tap);
}

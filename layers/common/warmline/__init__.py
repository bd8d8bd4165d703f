"""warmline: greet the caller at once, clone their voice in the background, hand over when ready.

The package, module by module (each one job; the domain never imports an adapter, boto3 or httpx):

Use cases (each takes its ports as arguments)
  webhook_use_cases  the webhook's routes, one call each: IncomingCalls, ConversationStarts (PostCalls:
                  post_call)
  ivr_use_cases   check_clone's and the metrics route, one call each: KeyPresses, CloningFigures
  calls           a call arrives (3CX) and the agent's conversation starts: what the caller hears,
                  whether to clone
  cloning         one clone job in the worker: the lease, one clone, its outcome
  ivr             the caller pressed a key: a bounded wait for the clone, then what next
  handoffs        every handoff seen to complete, or counted as lost
  registry        the caller registry (`warmline samples`): register, withdraw, rekey, PINs
  housekeeping    the scheduled sweeps, one after another
  voice_sweep     which voices at the provider may go, and deleting them
  voice_slots     making room when the account's voice slots are full
  caller_id       whether the caller the agent reports is the one who came in through 3CX
  verification    a caller's optional PIN: the hash, the check, the lockout
  cloning_report  the figures of GET /api/metrics/cloning, from stored events
  agent_slots     HandoffMode=agent_transfer: the voice-slot agents leased per call, the clone put on one
  post_call       ElevenLabs' post-call webhook: its signature, and the ended call's voice slot freed
  prewarm         warming check_clone before the caller's press, and answering that warm-up

Values and rules
  callers         a caller's number: normalised, masked, keyed by a keyed hash
  numbers         the one way a route reads a caller's number and keys it
  clone_state     the caller's clone record, profile, PIN record and job, as the domain sees them
  consent         the consent log's entries
  events          what happened, stored for the metrics
  outcomes        the fixed sets of outcomes the metrics count

Ports (Protocols the adapters implement; tests/fakes.py implements them in memory)
  ports           the stores, the queue, the sample archive and the clock
  voice_provider  the voice provider (ElevenLabs) by job: VoiceCloner, AgentCalls, and its errors

Edges
  http            the HTTP resolver: secret check, strict JSON, error bodies
  wire            the JSON bodies of the endpoints
  routes          the HTTP routes, written once
  settings        every function's configuration, from its environment
  shared_secrets  the X-Warmline-Secret values accepted, across a rotation
  observability   logs, metric names and metrics
  dependencies    builds the adapters and use cases once per execution environment

Adapters (warmline.adapters, each named after what it wraps)
  dynamodb        the clone table: DynamoCloneStore (clone lifecycle), DynamoRegistryStore (profiles,
                  consent log, PINs), the call log, events, handoffs, the agent's variables
  dynamodb_slots  the voice-slot agents' leases (HandoffMode=agent_transfer)
  s3              the voice samples (S3SampleStore: read for the worker, archived for the registry)
  sqs             the clone-jobs queue
  secrets_manager Secrets Manager values, cached
  elevenlabs      ElevenLabsClient: the ElevenLabs HTTP API behind VoiceCloner and AgentCalls
  lambda_invoke   Lambda's Invoke API: the asynchronous warm-up of check_clone
  aws             boto3 clients with bounded waits;  deadline  an invocation's time;  clock  the real clock
"""

__version__ = "0.1.0"  # the one version: pyproject.toml, `warmline --version`, GET /api/metrics/cloning

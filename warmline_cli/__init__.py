"""`warmline`: the operator's command line (voice samples, ElevenLabs and 3CX wiring, doctor)."""

"""Keyword-spotting data: the espeak-ng dataset builder (kws), the Speech Commands loader
(speech_commands), log-mel features (features), splits and WAV I/O."""

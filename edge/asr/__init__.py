"""Speech: VAD, Whisper decoding, streaming commit policy, caption files."""
